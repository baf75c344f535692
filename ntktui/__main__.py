from ntktui.start import entry

entry()
