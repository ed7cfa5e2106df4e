#!/usr/bin/env bash
# Readers on a real mount: Markdown sections, HTML text and title, a
# LlamaIndex Document in JSON, CSV rows, source code language; PDF (made
# with groff + ps2pdf), DOCX and ODT (made with pandoc) copied in with cp;
# broken/encrypted ones stored, not indexed, with the reason logged.
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

# PDF, DOCX and ODT: real files made here, copied in with cp.
skip() { T_N=$((T_N + 1)); echo "ok $T_N - # SKIP $*"; }
SRC=$WORK/src
mkdir -p "$SRC"
unindexed=0
if command -v groff >/dev/null && command -v ps2pdf >/dev/null && command -v gs >/dev/null; then
	cat > "$SRC/survey.ms" <<'MS'
\X'ps: exec [/Title (Tapir Survey) /Author (Ann Lee) /DOCINFO pdfmark'
.PP
The first page counts tapirs in the lowland forest.
.bp
.PP
The second page describes okapi tracks near the river.
MS
	groff -ms -Tps "$SRC/survey.ms" > "$SRC/survey.ps" && ps2pdf "$SRC/survey.ps" "$SRC/survey.pdf"
	check "cp of a PDF into docs/" cp "$SRC/survey.pdf" "$M/docs/survey.pdf"
	hit=$(node_of '{"query": "okapi tracks", "mode": "text", "top_k": 1}')
	is "$(field "$hit" "(h['ref_doc_id'], h['metadata']['page_label'], h['metadata']['page'], h['metadata']['reader'])")" \
		"('survey.pdf', '2', 2, 'pdf')" "PDF: the hit carries its page (page_label, page)"
	is "$(field "$hit" "(h['metadata']['title'], h['metadata']['total_pages'], h['metadata']['file_type'])")" \
		"('Tapir Survey', 2, 'application/pdf')" "PDF: title, page count, file type"
	is "$(field "$hit" "'okapi' in h['text'] and 'tapirs' not in h['text']")" "True" "PDF: a node holds one page"
	hit=$(node_of '{"query": "tapirs okapi", "mode": "text", "top_k": 1, "filters": [{"key": "page", "value": 1, "operator": "=="}]}')
	is "$(field "$hit" "'tapirs' in h['text']")" "True" "PDF: filter on the page number"
	check "PDF: search/ text rendering finds it" grep -q "okapi" "$M/search/okapi tracks.txt"
	check "PDF: docs/ reads back the original bytes" cmp "$SRC/survey.pdf" "$M/docs/survey.pdf"
	mkdir "$M/docs/pdfs" && mv "$M/docs/survey.pdf" "$M/docs/pdfs/tapirs.pdf"
	hit=$(node_of '{"query": "okapi tracks", "mode": "text", "top_k": 1}')
	is "$(field "$hit" "(h['ref_doc_id'], h['metadata']['file_name'], h['metadata']['page'], h['metadata']['title'])")" \
		"('pdfs/tapirs.pdf', 'tapirs.pdf', 2, 'Tapir Survey')" "PDF: mv keeps the page and title, re-keys the file"
	gs -q -dSAFER -dNOPAUSE -dBATCH -sDEVICE=pdfwrite -sOwnerPassword=o -sUserPassword=u \
		-sOutputFile="$SRC/locked.pdf" "$SRC/survey.ps"
	check "cp of an encrypted PDF succeeds" cp "$SRC/locked.pdf" "$M/docs/locked.pdf"
	check "encrypted PDF: the reason is in errors.log" \
		grep -q "locked.pdf EACCES: PDF is encrypted (a password is needed); stored, not indexed" "$M/.ragfs/errors.log"
	unindexed=$((unindexed + 1))
else
	for _ in 1 2 3 4 5 6 7 8 9 10; do skip "PDF: no groff/ps2pdf/gs"; done
fi
if command -v pandoc >/dev/null; then
	printf -- '---\ntitle: Otter Handbook\nauthor: Bo Lin\n---\n\n# Habitat\n\nOtters live near rivers.\n\n## Diet\n\nThey eat crayfish and trout.\n' > "$SRC/otters.md"
	pandoc "$SRC/otters.md" -o "$SRC/otters.docx" && pandoc "$SRC/otters.md" -o "$SRC/otters.odt"
	check "cp of a DOCX and an ODT into docs/" cp "$SRC/otters.docx" "$SRC/otters.odt" "$M/docs/"
	for kind in docx odt; do
		hit=$(node_of "{\"query\": \"crayfish trout\", \"mode\": \"text\", \"top_k\": 1, \"doc_ids\": [\"otters.$kind\"]}")
		is "$(field "$hit" "(h['metadata']['reader'], h['metadata']['section'], h['metadata']['title'], h['metadata']['author'])")" \
			"('$kind', 'Habitat > Diet', 'Otter Handbook', 'Bo Lin')" "$kind: reader, heading path, title, author"
		is "$(field "$hit" "h['metadata']['file_type'].rsplit('.', 1)[-1]")" "$([ $kind = docx ] && echo document || echo text)" \
			"$kind: file_type is its MIME type"
		is "$(field "$hit" "h['text'].strip()")" "Diet

They eat crayfish and trout." "$kind: paragraph text of its section"
	done
else
	for _ in 1 2 3 4 5 6 7; do skip "DOCX/ODT: no pandoc"; done
fi

# Garbage named .pdf and .docx: stored, not indexed, the reason logged, the
# mount up and answering.
head -c 30000 /dev/urandom > "$SRC/garbage"
check "cp of a garbage .pdf succeeds" cp "$SRC/garbage" "$M/docs/broken.pdf"
check "cp of a garbage .docx succeeds" cp "$SRC/garbage" "$M/docs/broken.docx"
unindexed=$((unindexed + 2))
check "garbage .pdf: the reason is in errors.log" \
	grep -q "broken.pdf EINVAL: PDF document is damaged; stored, not indexed" "$M/.ragfs/errors.log"
check "garbage .docx: the reason is in errors.log" \
	grep -q "broken.docx EINVAL: DOCX: not a zip archive" "$M/.ragfs/errors.log"
is "$(python3 -c "import json; s=json.load(open('$M/.ragfs/status.json')); print(s['docs_not_indexed'], 'broken.docx' in s['last_error'])")" \
	"$unindexed True" "status.json counts them not indexed and shows the last reason"
check "garbage .pdf reads back byte for byte" cmp "$SRC/garbage" "$M/docs/broken.pdf"
is "$(python3 -c "import json; print(len(json.load(open('$M/query/t'))['results']) > 0)" 2>/dev/null; kill -0 "$DPID" 2>/dev/null && echo up)" \
	"True
up" "the mount stays up and answers queries"
ls "$M/docs" > /dev/null; ok $? "docs/ still lists"

rumount; ok $? "unmount exits 0"
done_testing
