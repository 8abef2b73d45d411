project = "Widgets"
extensions = ["sphinx.ext.mathjax"]
html_theme = "alabaster"
html_static_path = []
html_copy_source = False
html_show_sourcelink = False
highlight_language = "python3"
