"""TODO"""
NAME = "components"
def run():
    raise NotImplementedError
