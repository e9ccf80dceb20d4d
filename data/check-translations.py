#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check every language in po/LINGUAS: msgfmt --check passes, nothing untranslated or fuzzy.

check-translations.py MSGFMT PO_DIR
"""
import os
import re
import subprocess
import sys


def main():
    msgfmt, po_dir = sys.argv[1], sys.argv[2]
    with open(f'{po_dir}/LINGUAS', encoding='utf-8') as f:
        langs = [w for line in f for w in line.split('#', 1)[0].split()]
    if not langs:
        print('po/LINGUAS lists no language', file=sys.stderr)
        return 1
    status = 0
    for lang in langs:
        po = f'{po_dir}/{lang}.po'
        r = subprocess.run([msgfmt, '--check', '--statistics', '-o', '/dev/null', po],
                           capture_output=True, text=True,
                           env=dict(os.environ, LC_ALL='C', LANGUAGE=''))
        out = (r.stdout + r.stderr).strip()
        print(f'{lang}: {out}')
        if r.returncode != 0:
            status = 1
            continue
        # "N translated messages, M fuzzy translations, K untranslated messages."
        count = {kind: int(n) for n, kind in
                 re.findall(r'(\d+) (translated|fuzzy|untranslated)', out)}
        if count.get('translated', 0) == 0:
            print(f'{po}: no translated messages', file=sys.stderr)
            status = 1
        for kind in ('fuzzy', 'untranslated'):
            if count.get(kind, 0):
                print(f'{po}: {count[kind]} {kind} messages', file=sys.stderr)
                status = 1
    return status


if __name__ == '__main__':
    sys.exit(main())
