#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check that the application icons are well-formed SVG of the right size.

check-icons.py SIZE FILE [--symbolic]: FILE must parse as XML, have an <svg> root with
width, height and viewBox of SIZE; with --symbolic every fill and stroke must be #2e3436 or none.
"""
import re
import sys
import xml.etree.ElementTree as ET

SVG = '{http://www.w3.org/2000/svg}'


def fail(path, msg):
    print(f'{path}: {msg}', file=sys.stderr)
    sys.exit(1)


def main():
    size, path = sys.argv[1], sys.argv[2]
    symbolic = '--symbolic' in sys.argv[3:]
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        fail(path, f'not well-formed XML: {e}')
    if root.tag != SVG + 'svg':
        fail(path, f'root element is {root.tag}, not an SVG <svg>')
    for attr, want in (('width', size), ('height', size), ('viewBox', f'0 0 {size} {size}')):
        if root.get(attr) != want:
            fail(path, f'{attr} is {root.get(attr)!r}, want {want!r}')
    if symbolic:
        for el in root.iter():
            for attr in ('fill', 'stroke'):
                value = el.get(attr)
                if value is not None and value.lower() not in ('#2e3436', 'none'):
                    fail(path, f'<{el.tag.removeprefix(SVG)}> has {attr}={value!r}; '
                               'symbolic icons use #2e3436 only')
            style = el.get('style') or ''
            for value in re.findall(r'(?:fill|stroke)\s*:\s*([^;]+)', style):
                if value.strip().lower() not in ('#2e3436', 'none'):
                    fail(path, f'style colour {value!r}; symbolic icons use #2e3436 only')
    print(f'{path}: ok')


if __name__ == '__main__':
    main()
