"""TODO"""
NAME = "iterations"
def run():
    raise NotImplementedError
