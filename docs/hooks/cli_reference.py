"""mkdocs hook: fill reference/cli.md with the command-line reference generated from vaelab's parser."""
MARKER = "<!-- cli-reference -->"


def on_page_markdown(markdown, page, config, files):
    if MARKER not in markdown:
        return markdown
    from vaelab.cli.reference import markdown as reference

    return markdown.replace(MARKER, reference())
