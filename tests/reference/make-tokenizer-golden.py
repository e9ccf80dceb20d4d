#!/usr/bin/env python3
"""Golden token ids and pre-tokenizer splits from Hugging Face `tokenizers`.

Builds a `tokenizers` Tokenizer from the default model's GGUF vocabulary and
merges with SmolLM2's own pre-tokenizer configuration (Sequence[Digits(
individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)],
ByteLevel decoder, the control tokens added as special tokens), encodes a
fixed list of strings, and writes

  tests/data/tokenizer/smollm-golden.txt
      HEX <TAB> IDS_WITH_SPECIALS <TAB> IDS_PLAIN
      HEX is the UTF-8 string in hex; ids are comma-separated decimals.
      IDS_PLAIN comes from the same tokenizer without the added tokens (what
      encoding with parse_special = false must give).

  tests/data/tokenizer/pretokenize-golden.txt
      KIND <TAB> HEX <TAB> PIECE_HEX,PIECE_HEX,...
      the pieces `tokenizers` itself splits each string into, for the
      pre-tokenizers of pretokenize.c (smollm, gpt2, llama3, qwen2,
      deepseek3), the last three built from their published Split regexes.

  tests/data/tokenizer/llama3-synth.txt
      a small BPE vocabulary trained here by `tokenizers` with the Llama 3
      pre-tokenizer and ignore_merges=True, and ids for the strings, to test
      the llama-bpe path end to end without a Llama 3 file:
        V <TAB> HEX            a token, in id order
        M <TAB> HEX <TAB> HEX  a merge, in rank order
        E <TAB> HEX <TAB> IDS  an expected encoding

Deterministic: the same inputs give the same files.
Usage: make-tokenizer-golden.py [MODEL.gguf] [OUT_DIR]
"""

import os
import random
import sys

from gguf import GGUFReader
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.expanduser(
    "~/.local/share/sightline/models/SmolLM2-135M-Instruct.Q4_1.gguf")

GPT2_RE = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")
LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
            r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
DS3_RE = [r"\p{N}{1,3}", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
          "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|"
          "[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|"
          "\\s*[\r\n]+|\\s+(?!\\S)|\\s+"]


def bytes_to_unicode():
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


BYTE_CHAR = bytes_to_unicode()
CHAR_BYTE = {c: b for b, c in BYTE_CHAR.items()}


def read_gguf(path):
    r = GGUFReader(path)

    def strings(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    tokens = strings("tokenizer.ggml.tokens")
    merges = strings("tokenizer.ggml.merges")
    f = r.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[i][0]) for i in f.data]
    return tokens, merges, types


def token_bytes(tokens, types, i):
    if types[i] in (3, 4):
        return tokens[i].encode("utf-8")
    return bytes(CHAR_BYTE[c] for c in tokens[i])


def smollm_tokenizer(tokens, merges, types, with_specials):
    vocab = {t: i for i, t in enumerate(tokens)}
    pairs = [tuple(m.split(" ")) for m in merges]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    if with_specials:
        specials = [AddedToken(t, special=True, normalized=False)
                    for t, ty in zip(tokens, types) if ty in (3, 4)]
        tok.add_special_tokens(specials)
    return tok


def pre_tokenizers_by_kind():
    def split(rx):
        return pre_tokenizers.Split(Regex(rx), behavior="isolated")
    return {
        "smollm": pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
        "gpt2": pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        "llama3": split(LLAMA3_RE),
        "qwen2": split(QWEN2_RE),
        "deepseek3": pre_tokenizers.Sequence([split(r) for r in DS3_RE]),
    }


def piece_bytes(kind, piece):
    if kind in ("smollm", "gpt2"):
        return bytes(CHAR_BYTE[c] for c in piece)
    return piece.encode("utf-8")


# ---- the strings -------------------------------------------------------------

CURATED = [
    "", " ", "  ", "\n", "\t", "a", "A", "Hello", "Hello world", "Hello, world!",
    " Hello", "  Hello", "   leading spaces", "trailing spaces   ", "trailing space ",
    "Hello\nworld", "Hello\n\nworld", "Hello \n world", "line1\r\nline2\r\n",
    "tabs\tbetween\twords", "\t\tindented", "mixed \t \n whitespace \n\t ", "a  b   c    d",
    "   ", "\n\n\n", " \n", "\n ", " \t", "x \u00a0y", "x\u00a0\u00a0y", "x\u3000y", "x\u2003\u2003y",
    "\u2028line sep\u2029para", "\x0b\x0c vertical", "nul\x00byte", "bell\x07 ctrl\x1b[0m",
    "\x1c\x1d\x1e\x1f separators",
    # contractions
    "it's", "It's", "IT'S", "don't", "DON'T", "we're", "We'RE", "they've", "I'm", "you'll",
    "he'd", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "''", "'sup", "rock'n'roll",
    "o'clock", "the dog's bone's", "can't won't shouldn't", "x'ſx", "'S'T'RE'VE'M'LL'D",
    "James' book", "'quoted'", "\u2019s curly", "it\u2019s",
    # prose
    "The quick brown fox jumps over the lazy dog.",
    "Sightline is a desktop application for reading long documents with a language model.",
    "In 1492, Columbus sailed the ocean blue; in 1969, Apollo 11 landed on the Moon.",
    "She said, \"No way!\" -- and left (quietly).",
    "Résumé, naïve café, jalapeño, façade, coöperate, Zürich, São Paulo.",
    "Ελληνικά: Η γρήγορη καφέ αλεπού.", "Русский текст: Съешь же ещё этих мягких французских булок.",
    "Português, Español, Français, Deutsch, Italiano, Polski: zażółć gęślą jaźń.",
    "Türkçe: Pijamalı hasta yağız şoföre çabucak güvendi.", "Tiếng Việt có dấu: Người Việt.",
    # CJK
    "你好，世界！", "我喜欢读书。今天天气很好。", "日本語のテキスト：ひらがなとカタカナ。",
    "東京は日本の首都です。", "한국어 텍스트입니다. 안녕하세요!", "中文English混合text测试",
    "漢字かな交じり文", "ｶﾀｶﾅ半角", "全角ＡＢＣ１２３", "𠀀𠀁 extension B", "〇一二三",
    # emoji
    "😀", "Hello 😀 world", "👍🏽", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇫🇷🇩🇪 flags", "❤️🔥",
    "👩🏾‍💻 coder", "🧑‍🤝‍🧑", "emoji at end 🎉🎉🎉", "☺️ ✔️ ⚠️", "1️⃣ keycap",
    # RTL
    "مرحبا بالعالم", "العربية: النص من اليمين إلى اليسار ١٢٣", "שלום עולם", "עברית עם ניקוד: בְּרֵאשִׁית",
    "mixed English and עברית and عربي", "\u202eRTL override\u202c",
    # combining marks, normalisation
    "e\u0301", "cafe\u0301", "a\u0300\u0301\u0302\u0303", "Z\u0351\u0352\u0353algo",
    "\u0915\u094d\u0937 Devanagari: हिन्दी", "ไทย ภาษาไทย", "가 jamo", "Å Å", "ﬁ ligature ﬀ",
    "\u200b zero\u200bwidth", "soft\u00adhyphen", "a\u200db", "a\u200cb", "\ufeffBOM",
    "\u00bd \u2153 \u2167 \u0661\u0662 fractions and numerals", "x\u00b2 + y\u00b3", "①②③",
    # digits
    "0", "7", "42", "123", "1234", "12345", "1234567890", "3.14159", "-273.15", "1,000,000",
    "1e-9", "0xDEADBEEF", "2024-01-31", "12:30:45", "v1.2.3", "99 bottles", "abc123def",
    "123abc", "a1b2c3", " 1 2 3 ", "  42", "100%", "$9.99", "€100", "12345678901234567890123456789",
    "٣٤٥ Arabic-Indic", "१२३ Devanagari digits", "１２３ fullwidth", "3½", "Ⅻ", "²³",
    # code
    "int main(void) { return 0; }",
    "#include <stdio.h>\n\nint main(int argc, char **argv)\n{\n    printf(\"%d\\n\", argc);\n    return 0;\n}\n",
    "static size_t run(const text_view *t, size_t i, size_t end, char_class cls);",
    "for (int i = 0; i < n; i++) {\n\tsum += a[i] * b[i];\n}",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "class Foo(Bar):\n    \"\"\"Docstring.\"\"\"\n    def __init__(self, x: int = 3) -> None:\n        self._x = x\n",
    "import numpy as np\nx = np.arange(10)**2  # squares\nprint(f\"{x=}\")",
    "lambda x: x ** 2 if x >= 0 else -x", "a->b->c; p = &q; *p++ = 0;", "x <<= 2; y >>= 3; z ^= ~w;",
    "{\"name\": \"Sightline\", \"version\": \"0.1.0\", \"tags\": [\"a\", \"b\"], \"n\": 42, \"ok\": true}",
    "{\n  \"nested\": {\n    \"array\": [1, 2.5, -3e10, null],\n    \"empty\": {}\n  }\n}",
    "SELECT id, name FROM documents WHERE size > 1024 ORDER BY name;",
    "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "fn main() { let v: Vec<u8> = vec![1, 2, 3]; println!(\"{:?}\", v); }",
    "if [ -f \"$HOME/.bashrc\" ]; then . \"$HOME/.bashrc\"; fi", "$ ls -la | grep '^d' && echo ok",
    "    four spaces", "        eight spaces", "\t\t\ttabs", "}\n\n\n}", "x = 1;;;;", "!!!???...",
    "/* comment */ // line comment", "a_b_c __dunder__ camelCase PascalCase snake_case SCREAMING",
    "std::vector<std::string> v;", "@decorator\ndef f(): pass", "#!/usr/bin/env python3",
    # URLs, markdown
    "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
    "Visit http://example.com/path?query=1&x=y#frag for more.", "mailto:someone@example.org",
    "file:///home/user/doc.pdf", "# Heading\n\nSome *emphasis* and **bold** and `code`.\n",
    "- item one\n- item two\n  - nested item\n1. numbered\n", "> quote\n>> nested quote",
    "| a | b |\n|---|---|\n| 1 | 2 |", "```python\nprint('hi')\n```", "[link](https://x.y/z) ![img](a.png)",
    "~~strike~~ __under__ ***both***", "---\ntitle: front matter\n---",
    # special tokens in text
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>user\nHello<|im_end|>\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more text", "<|im_start|><|im_end|>", "<<|im_end|>>", "<|im_start", "im_start|>",
    "<|im_start|x", "<|IM_START|>", "< |im_start| >", "<repo_name>sightline<file_sep>a.c",
    "<reponame><filename><gh_stars>", "<issue_start>bug<issue_comment>fix<issue_closed>",
    "<jupyter_start><jupyter_text>md<jupyter_code>x=1<jupyter_output>1<empty_output>",
    "<jupyter_script>", "<|endoftext|><|endoftext|><|endoftext|>", "a<|im_end|>b<|im_start|>c",
    "  <|im_start|>  ", "\n<|im_end|>\n", "<|im_end|>123", "<file_sep><filename",
    # odd
    "\ufffd replacement", "\U0010ffff max", "\ue000 private use", "\U000e0041 tag", "\u0378 unassigned",
    "ǅ titlecase ǈ ǋ", "ꙮ", "ß ẞ", "İstanbul ı", "ΣΑΣ σας", "ﬀﬁﬂﬃﬄ",
]


def generated(n, seed):
    """Random mixtures of the character pools, deterministic."""
    rng = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "0123456789", "     ", "\t\n\r", ".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`",
        "éèêëàâäôöûüçñßøåæœ", "αβγδεζηθλμπσωΑΒΓΔ", "абвгдежзийклмнопрстуф",
        "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可",
        "あいうえおかきくけこアイウエオカキクケコ", "가나다라마바사아자차카타파하", "مرحبا عالم",
        "שלום עולם", "😀😁😂🤣😃👍🏽👨‍👩‍👧🎉🔥✨", "\u0301\u0300\u0308\u0327", "٠١٢٣٤٥٦٧٨٩",
        "\u00a0\u2003\u3000\u200b\u200d", "'s't're've'm'll'd",
    ]
    words = ["the", "and", "token", "Sightline", "attention", "sparse", "model", "document",
             "don't", "it's", "I'm", "we're", "GPU", "CUDA", "1024", "3.14", "x86_64",
             "<|im_start|>", "<|im_end|>", "<|endoftext|>", "hello", "world", "naïve", "日本",
             "中文", "😀", "  ", "\n", "\t", "\n\n", "    "]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            if rng.random() < 0.5:
                parts.append(rng.choice(words))
            else:
                pool = rng.choice(pools)
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 8))))
            if rng.random() < 0.6:
                parts.append(" ")
        out.append("".join(parts))
    return out


def long_strings():
    return [
        "a" * 1000,
        "supercalifragilisticexpialidocious" * 40,
        "x" * 5000 + " tail",
        "9" * 300,
        " " * 500 + "word",
        "\n" * 200,
        "ab" * 2000,
        "日本語" * 300,
        "😀" * 200,
        "-" * 1000,
        "".join(chr(0x41 + (i * 7) % 26) for i in range(3000)),
    ]


def all_strings():
    strings = CURATED + long_strings() + generated(260, 20241123)
    seen, out = set(), []
    for s in strings:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def ids(encoding):
    return ",".join(str(i) for i in encoding.ids)


def write_smollm(out_dir, tokens, merges, types, strings):
    vocab = set(tokens)
    special = smollm_tokenizer(tokens, merges, types, True)
    plain = smollm_tokenizer(tokens, merges, types, False)
    path = os.path.join(out_dir, "smollm-golden.txt")
    with open(path, "w", encoding="ascii", newline="\n") as f:
        for s in strings:
            es = special.encode(s, add_special_tokens=False)
            ep = plain.encode(s, add_special_tokens=False)
            # Bytes without a byte-level token (SmolLM2 lacks 21 of the 256)
            # are dropped by `tokenizers`; everything else must come back.
            want = bytes(b for b in s.encode("utf-8") if BYTE_CHAR[b] in vocab)
            assert b"".join(token_bytes(tokens, types, i) for i in es.ids) == want, s
            assert b"".join(token_bytes(tokens, types, i) for i in ep.ids) == want, s
            f.write(f"{s.encode('utf-8').hex()}\t{ids(es)}\t{ids(ep)}\n")
    return path


def write_pretokenize(out_dir, strings):
    path = os.path.join(out_dir, "pretokenize-golden.txt")
    kinds = pre_tokenizers_by_kind()
    with open(path, "w", encoding="ascii", newline="\n") as f:
        for kind, pt in kinds.items():
            for s in strings:
                pieces = [piece_bytes(kind, p) for p, _ in pt.pre_tokenize_str(s)]
                assert b"".join(pieces) == s.encode("utf-8"), (kind, s)
                f.write(f"{kind}\t{s.encode('utf-8').hex()}\t"
                        f"{','.join(p.hex() for p in pieces)}\n")
    return path


def write_llama3_synth(out_dir, strings):
    """A small Llama-3-style BPE: trained here, then used as the oracle."""
    corpus = CURATED + generated(400, 7)
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_RE), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1200, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|begin_of_text|>", "<|eot_id|>"])
    tok.train_from_iterator(corpus, trainer=trainer)
    model = tok.get_vocab(with_added_tokens=True)
    vocab = sorted(model.items(), key=lambda kv: kv[1])
    import json
    merges = json.loads(tok.to_str())["model"]["merges"]
    path = os.path.join(out_dir, "llama3-synth.txt")
    with open(path, "w", encoding="ascii", newline="\n") as f:
        for i, (t, tid) in enumerate(vocab):
            assert i == tid
            f.write(f"V\t{t.encode('utf-8').hex()}\n")
        for m in merges:
            a, b = m if isinstance(m, list) else m.split(" ")
            f.write(f"M\t{a.encode('utf-8').hex()}\t{b.encode('utf-8').hex()}\n")
        for s in strings:
            e = tok.encode(s, add_special_tokens=False)
            f.write(f"E\t{s.encode('utf-8').hex()}\t{ids(e)}\n")
    return path


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        HERE, "..", "data", "tokenizer")
    os.makedirs(out_dir, exist_ok=True)
    tokens, merges, types = read_gguf(model)
    strings = all_strings()
    print(write_smollm(out_dir, tokens, merges, types, strings), len(strings), "strings")
    # The very long strings stay out of the split files to keep them small.
    short = [x for x in strings if len(x.encode("utf-8")) <= 1200]
    print(write_pretokenize(out_dir, short), len(short), "strings")
    print(write_llama3_synth(out_dir, short))


if __name__ == "__main__":
    main()
