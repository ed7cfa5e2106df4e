#!/usr/bin/env bash
# Readers on a real mount: Markdown sections, HTML text and title, a
# LlamaIndex Document in JSON, CSV rows, source code language.
. "$(dirname "$0")/lib.sh"
setup
rmount -o chunk_size=40,chunk_overlap=0
M=$MNT
printf '# Install\nRun the installer with care.\n\n## Keys\nPut the access keys in the vault before you start.\n\n# Usage\nQuery the store by writing files.\n' > "$M/docs/guide.md"
printf '<!doctype html><html><head><title>Fox Page</title><script>var hidden = "zzyzx";</script></head><body><h1>Foxes</h1><p>The quick &amp; clever fox.</p></body></html>' > "$M/docs/fox.html"
printf '{"text": "Quokkas live on Rottnest Island.", "metadata": {"author": "ann"}}' > "$M/docs/quokka.json"
printf 'animal,home\nwombat,burrow\n' > "$M/docs/homes.csv"
printf 'def main():\n    return 42\n' > "$M/docs/tool.py"

node_of() { # node_of QUERY: the top hit as JSON
	printf '%s' "$1" > "$M/query/t"
	python3 -c "import json; print(json.dumps(json.load(open('$M/query/t'))['results'][0]))"
}
field() { python3 -c "import json,sys; h=json.loads(sys.argv[1]); print(eval(sys.argv[2]))" "$1" "$2"; }

hit=$(node_of '{"query": "access keys vault", "mode": "text", "top_k": 1}')
is "$(field "$hit" "h['metadata'].get('section')")" "Install > Keys" "Markdown heading path in node metadata"
is "$(field "$hit" "h['metadata']['reader']")" "markdown" "reader named in metadata"
hit=$(node_of '{"query": "clever fox", "mode": "text", "top_k": 1}')
is "$(field "$hit" "h['metadata']['title']")" "Fox Page" "HTML title in metadata"
is "$(field "$hit" "'<' in h['text'] or 'zzyzx' in h['text']")" "False" "HTML node text has no tags or scripts"
is "$(field "$hit" "'quick & clever' in h['text']")" "True" "HTML entities decoded"
hit=$(node_of '{"query": "Rottnest", "mode": "text", "top_k": 1}')
is "$(field "$hit" "(h['text'], h['metadata']['author'])")" "('Quokkas live on Rottnest Island.', 'ann')" "LlamaIndex Document JSON: its text and metadata"
hit=$(node_of '{"query": "wombat", "mode": "text", "top_k": 1}')
is "$(field "$hit" "h['text']")" "animal: wombat, home: burrow" "CSV rows as labelled text"
hit=$(node_of '{"query": "return 42", "mode": "text", "top_k": 1}')
is "$(field "$hit" "h['metadata']['language']")" "python" "source code language in metadata"
is "$(cat "$M/docs/fox.html" | head -c 15)" "<!doctype html>" "docs/ still reads back the original bytes"
rumount; ok $? "unmount exits 0"
done_testing
