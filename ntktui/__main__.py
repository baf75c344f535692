from ntktui.cli import entry

entry()
