"""TODO"""
NAME = "mask"
def run():
    raise NotImplementedError
