#!/bin/sh
# Rebuilds the generated fixture sites (tests/sites/generators/<generator>/html) from their sources
# with the pinned generator versions of requirements-bench.txt (Sphinx, MkDocs-Material):
#   python -m venv /tmp/gen && /tmp/gen/bin/pip install -r requirements-bench.txt
#   PATH=/tmp/gen/bin:$PATH sh tests/sites/generators/build.sh
# Only the HTML pages are kept (no theme assets, search index or sources copy): the tests read
# the markup, not the look. docusaurus/ and hotdoc/ are vendored HTML (see their README).
set -e
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$here/sphinx/html" "$here/mkdocs/html"
sphinx-build -q -E -b html "$here/sphinx/src" "$here/sphinx/html"
rm -rf "$here/sphinx/html/_static" "$here/sphinx/html/_sources" "$here/sphinx/html/.doctrees" \
       "$here/sphinx/html/.buildinfo" "$here/sphinx/html/searchindex.js" "$here/sphinx/html/search.html" \
       "$here/sphinx/html/objects.inv"
NO_MKDOCS_2_WARNING=1 mkdocs build -q -f "$here/mkdocs/src/mkdocs.yml" -d "$here/mkdocs/html"
rm -rf "$here/mkdocs/html/assets" "$here/mkdocs/html/search" "$here/mkdocs/html/sitemap.xml.gz"
