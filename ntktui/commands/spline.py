"""TODO"""
NAME = "spline"
def run():
    raise NotImplementedError
