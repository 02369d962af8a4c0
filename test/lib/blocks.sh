# test/lib/blocks.sh - run the SQL blocks of a markdown document as written.
#
# Sourced by the scripts that test documentation (readme.sh, operations.sh).
# The caller sets DB (the database the blocks run in) and defines
# fail MESSAGE.

# block FILE HEADING [LANG] - the first ```LANG block (sql unless given)
# after the line HEADING (e.g. "## Holds"), before the next heading of the
# same or a higher level.
block() {
	local level=${2%% *}
	awk -v heading="$2" -v level="$level" -v lang="${3:-sql}" '
		$0 == heading { found = 1; next }
		!found { next }
		/^```/ {
			if (!fence) { fence = 1; inside = ($0 == "```" lang); next }
			if (inside) exit
			fence = 0; next
		}
		inside { print; next }
		!fence && /^#+ / && length($1) <= length(level) { exit }' "$1"
}

# statements FILE - split a block into statements, one per line of output
# (a statement ends at a line whose code, before any "--" comment, ends in
# ";" or in psql's \gset), each prefixed by the SQLSTATE its comment says it fails with
# ("-- ... SQLSTATE XXXXX"), or "ok".
statements() {
	awk '
		{
			code = $0; comment = ""
			if (index($0, "--") > 0) {
				code = substr($0, 1, index($0, "--") - 1)
				comment = substr($0, index($0, "--"))
			}
			stmt = stmt (stmt == "" ? "" : " ") code
			if (match(comment, /SQLSTATE [0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z]/))
				expect = substr(comment, RSTART + 9, 5)
			if (code ~ /;[[:space:]]*$/ || code ~ /\\gset[[:space:]]*$/) {
				gsub(/[[:space:]]+/, " ", stmt)
				print (expect == "" ? "ok" : expect) "\t" stmt
				stmt = ""; expect = ""
			}
		}' "$1"
}

# run_block LIST - run the statements of LIST (from statements) in one
# session, as a user pasting them into psql would: each must end with the
# SQLSTATE its comment names, or succeed.  Leaves psql's output, with the
# "psql:FILE:LINE: " prefix of a script taken off, in LIST.out.
run_block() {
	local list=$1 expected got
	cut -f 2- "$list" | sed 's/$/\n\\echo ::state :SQLSTATE/' >"$list.sql"
	psql -X -d "$DB" -f "$list.sql" >"$list.raw" 2>&1 || true
	sed 's/^psql:[^:]*:[0-9]*: //' "$list.raw" | grep -v '^::state ' >"$list.out"
	expected=$(cut -f 1 "$list" | sed 's/^ok$/00000/' | tr '\n' ' ')
	got=$(sed -n 's/^::state //p' "$list.raw" | tr '\n' ' ')
	if [ "$got" != "$expected" ]; then
		cat "$list.raw" >&2
		fail "$(basename "$list" .list): the statements ended with [${got% }], the document's comments say [${expected% }]"
	fi
}
