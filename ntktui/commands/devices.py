"""TODO"""
NAME = "devices"
def run():
    raise NotImplementedError
