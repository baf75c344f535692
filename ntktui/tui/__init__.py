"""`ntk tui`: the Textual dashboard.

    app.py        NtkApp: screens, the command palette, the background JAX warm-up
    screens/      the preset browser, a study (one preset's panels), the parameter form
    widgets/      a plot drawn by the shared renderer, a Report's blocks, the status line
    runner.py     the Progress that carries an analysis's partial Reports from its worker thread
    palette.py    presets in the command palette
    app.tcss      the layout

It shows what `ntktui.report` analyses return: the numbers come from the same analyse() the CLI
calls, and the plots from the same renderer.
"""
