"""TODO"""
NAME = "reconstruct"
def run():
    raise NotImplementedError
