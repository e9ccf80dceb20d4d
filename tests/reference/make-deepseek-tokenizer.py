#!/usr/bin/env python3
"""A small DeepSeek-V3.2-style tokenizer, trained by Hugging Face `tokenizers`,
and golden token ids and chat renderings from `tokenizers` and `transformers`.

The tokenizer is a byte-level BPE with exactly DeepSeek V3's normalizer (an
empty Sequence), pre-tokenizer (Sequence of Split(\\p{N}{1,3}), Split(CJK and
kana ranges), Split(the big regex), ByteLevel(add_prefix_space=False,
use_regex=False)), ByteLevel decoder and TemplateProcessing post-processor,
trained on the license texts of /usr/share/common-licenses (Debian 12's) and
the golden texts below, with EXACTLY 1024 tokens in all: the small random DeepSeek-V3.2
test checkpoints have vocab_size 1024, bos 0 and eos 1. The added tokens are

  0 <｜begin▁of▁sentence｜>  1 <｜end▁of▁sentence｜>  2 <｜User｜>  3 <｜Assistant｜>
  4 <think>  5 </think>  6 <｜▁pad▁｜>

special except <think> and </think> (as in DeepSeek-V3.1 and later, where
they are added tokens that are not special).

tokenizer_config.json carries bos/eos, add_bos_token true and the
DeepSeek-V3.1(-Terminus) chat template, which DeepSeek-V3.2-Exp's
tokenizer_config.json is meant to carry too (the copy below is transcribed
from V3.1-Terminus's, as quoted in ik_llama.cpp issue #804). DeepSeek-V3.2 itself ships
no Jinja template but encoding/encoding_dsv32.py, whose chat mode ("</think>"
after each "<｜Assistant｜>") gives the same text for a system prompt first and
then user/assistant turns ending in a user turn (engine/tokenizer/chat.c).

Writes, under OUT_DIR (default tests/data/deepseek-v32):
  tokenizer/tokenizer.json, tokenizer/tokenizer_config.json
  tokenizer-golden.txt   HEX <TAB> IDS_WITH_SPECIALS <TAB> IDS_PLAIN
      HEX: the UTF-8 text in hex; ids comma-separated. IDS_WITH_SPECIALS:
      Tokenizer.encode(text, add_special_tokens=False) (added tokens
      matched); IDS_PLAIN: the same tokenizer without its added tokens (what
      encoding with parse_special = false must give).
  pre-variants/KIND/tokenizer.json, pre-variants-golden.txt
      the same vocabulary and merges under the GPT-2, SmolLM, Llama 3 and
      Qwen2 pre-tokenizers; KIND <TAB> HEX <TAB> IDS (added tokens matched).
  chat-golden.txt        deepseek32 <TAB> ADD(0|1) <TAB> ROLE:HEX,... <TAB> HEX
      transformers' apply_chat_template(tokenize=False) of the tokenizer
      directory, as in tests/data/tokenizer/chat-golden.txt.

Deterministic: running it again (with the same license texts) leaves the
files unchanged.
Usage: make-deepseek-tokenizer.py [OUT_DIR]
Needs: pip install tokenizers transformers jinja2
"""
import glob
import json
import os
import sys

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers import processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
PAD = "<｜▁pad▁｜>"
SPECIALS = [BOS, EOS, USER, ASSISTANT, "<think>", "</think>", PAD]
NOT_SPECIAL = {"<think>", "</think>"}
VOCAB_SIZE = 1024

# DeepSeek V3's Split regexes, as its tokenizer.json holds them (the CR and LF
# in the third are the characters themselves, not escapes).
DS3_DIGITS = r"\p{N}{1,3}"
DS3_CJK = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"
DS3_MAIN = ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|"
            "[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|"
            "\\s*[\r\n]+|\\s+(?!\\S)|\\s+")

LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
             r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = LLAMA3_RE.replace(r"\p{N}{1,3}", r"\p{N}")
BYTE_LEVEL_RE = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                 "use_regex": True}
BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
              "use_regex": False}
PRE_VARIANTS = {
    "gpt2": BYTE_LEVEL_RE,
    "smollm": {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, BYTE_LEVEL_RE]},
    "llama3": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_RE}, "behavior": "Isolated",
         "invert": False}, BYTE_LEVEL]},
    "qwen2": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN2_RE}, "behavior": "Isolated",
         "invert": False}, BYTE_LEVEL]},
}

# The DeepSeek-V3.1(-Terminus) tokenizer_config.json chat_template (see the docstring).
DEEPSEEK32_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% if not thinking is defined %}{% set thinking = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, system_prompt='', is_first_sp=true, "
    "is_last_user=false) %}{%- for message in messages %}{%- if message['role'] == 'system' %}"
    "{%- if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content'] %}"
    "{% set ns.is_first_sp = false %}{%- else %}"
    "{% set ns.system_prompt = ns.system_prompt + '\n\n' + message['content'] %}{%- endif %}"
    "{%- endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}"
    "{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}"
    "{%- set ns.is_first = false -%}{%- set ns.is_last_user = true -%}"
    "{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['tool_calls'] is defined and "
    "message['tool_calls'] is not none %}{%- if ns.is_last_user %}{{'<｜Assistant｜></think>'}}"
    "{%- endif %}{%- set ns.is_last_user = false -%}{%- set ns.is_first = false %}"
    "{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls'] %}{%- if not ns.is_first %}"
    "{%- if message['content'] is none %}{{'<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>'+ "
    "tool['function']['name'] + '<｜tool▁sep｜>' + tool['function']['arguments'] + "
    "'<｜tool▁call▁end｜>'}}{%- else %}{{message['content'] + "
    "'<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['function']['name'] + '<｜tool▁sep｜>' + "
    "tool['function']['arguments'] + '<｜tool▁call▁end｜>'}}{%- endif %}"
    "{%- set ns.is_first = true -%}{%- else %}{{'<｜tool▁call▁begin｜>'+ tool['function']['name'] + "
    "'<｜tool▁sep｜>' + tool['function']['arguments'] + '<｜tool▁call▁end｜>'}}{%- endif %}"
    "{%- endfor %}{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and (message['tool_calls'] is not defined or "
    "message['tool_calls'] is none) %}{%- if ns.is_last_user %}{{'<｜Assistant｜>'}}"
    "{%- if message['prefix'] is defined and message['prefix'] and thinking %}{{'<think>'}}"
    "  {%- else %}{{'</think>'}}{%- endif %}{%- endif %}{%- set ns.is_last_user = false -%}"
    "{%- if ns.is_tool %}{{message['content'] + '<｜end▁of▁sentence｜>'}}"
    "{%- set ns.is_tool = false -%}{%- else %}{%- set content = message['content'] -%}"
    "{%- if '</think>' in content %}{%- set content = content.split('</think>', 1)[1] -%}"
    "{%- endif %}{{content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %}"
    "{%- if message['role'] == 'tool' %}{%- set ns.is_last_user = false -%}"
    "{%- set ns.is_tool = true -%}{{'<｜tool▁output▁begin｜>' + message['content'] + "
    "'<｜tool▁output▁end｜>'}}{%- endif %}{%- endfor -%}"
    "{%- if add_generation_prompt and ns.is_last_user and not ns.is_tool %}{{'<｜Assistant｜>'}}"
    "{%- if not thinking %}{{'</think>'}}{%- else %}{{'<think>'}}{%- endif %}{% endif %}")

TEXTS = [
    "", " ", "  ", "\n", "\t", "a", "A", "Hello", "Hello world", "Hello, world!",
    " Hello", "  Hello", "   leading spaces", "trailing spaces   ", "trailing space ",
    "Hello\nworld", "Hello\n\nworld", "Hello \n world", "a\r\nb\r\n\r\nc", "tabs\tand\t\tmore",
    "    indented code\n        deeper\n", "The GNU General Public License is a free, copyleft license.",
    "Permission is hereby granted, free of charge, to any person obtaining a copy",
    "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND.",
    "don't won't it's we'll they've I'm you'd",
    "DON'T WON'T IT'S",
    "int main(void) { return 0; }",
    "static size_t run(const text_view *t, size_t i) {\n    return i + 1;\n}\n",
    "if (x->len != y->len && x[i] == '\\n') /* comment */",
    "for i in range(10):\n    print(f\"{i:03d}\")",
    "#include <stdio.h>", "a->b; c::d; e.f(g, h);", "std::vector<int> v{1, 2, 3};",
    "https://example.com/path?q=1&r=two#frag", "user@example.org",
    "0", "1", "12", "123", "1234", "12345", "1234567890", "3.14159", "-42", "1e10", "2026-11-23",
    "$1,234.56", "100%", "x1y22z333w4444", "٣٤٥ ١٢", "Ⅻ ½ ²³",
    "日本語のテキスト", "中文文本测试", "漢字とカタカナとひらがな", "こんにちは世界",
    "한국어 텍스트", "Привет, мир!", "Ελληνικά", "עברית", "مرحبا بالعالم", "हिन्दी",
    "naïve café résumé", "e\u0301 combining", "ﬁ ligature", "Ａ full width", "ß ẞ",
    "emoji 😀🎉👍🏽", "👨‍👩‍👧‍👦 family", "flags 🇩🇪🇯🇵", "❤️", "☃", "𝄞 music",
    "mixed日本123abc!!", "CJK,punctuation。「引用」",
    "!!!", "...", "?!?!", "---", "___init___", "@@@@", "((()))", "[[x]]", "{\"k\": [1, 2]}",
    "''", "\"\"", "`code`", "~/.config", "a|b|c", "<tag attr=\"v\">text</tag>",
    "\u00a0nbsp", "zero\u200bwidth", "\u3000ideographic space", "line\u2028sep",
    "\x00\x01\x02 controls \x7f", "bell\x07",
    BOS + "Hello" + EOS, USER + "What is 2+2?" + ASSISTANT + "</think>4" + EOS,
    "<think>reasoning</think>answer", "text" + PAD + PAD, "<｜User" + "｜ not special",
    BOS + BOS, "<think></think>", "< think >", "<｜begin▁of▁sentence｜", "▁underscore▁like",
    "A" * 300, " " * 50 + "x", "\n" * 20, "ab" * 100,
    "The quick brown fox jumps over the lazy dog. " * 5,
]

CONVERSATIONS = [
    [("user", "Hello!")],
    [("system", "You are terse."), ("user", "Hi")],
    [("user", "What is 2+2?"), ("assistant", "4"), ("user", "And 3+3?")],
    [("system", "S1"), ("system", "S2"), ("user", "u")],
    [("user", "u1"), ("system", "late system"), ("assistant", "a1")],
    [("system", "Be brief."), ("user", "1"), ("assistant", "one"), ("user", "2"),
     ("assistant", "two")],
    [("user", "q"), ("assistant", "<think>hidden</think>shown")],
    [("user", "q"), ("assistant", "a</think>b</think>c")],
    [("assistant", "first")],
    [("user", "u1"), ("user", "u2")],
    [("user", "u"), ("assistant", "a1"), ("assistant", "a2")],
    [("system", ""), ("user", "")],
    [("user", "  spaces  \n"), ("assistant", " \tx\n")],
    [("user", "日本語 😀"), ("assistant", "中文")],
]


def corpus():
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                yield f.read()
    # a little of everything the goldens use, so that merges exist for them
    for t in TEXTS:
        yield t


def build():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(DS3_DIGITS), "isolated", invert=False),
        pre_tokenizers.Split(Regex(DS3_CJK), "isolated", invert=False),
        pre_tokenizers.Split(Regex(DS3_MAIN), "isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0", pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1",
        special_tokens=[(BOS, 0)])
    data = json.loads(tok.to_str())
    for t in data["added_tokens"]:
        if t["content"] in NOT_SPECIAL:
            t["special"] = False
    return data


def hexs(s):
    return s.encode("utf-8").hex()


def ids(xs):
    return ",".join(str(i) for i in xs)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests/data/deepseek-v32")
    tdir = os.path.join(out, "tokenizer")
    os.makedirs(tdir, exist_ok=True)
    data = build()
    with open(os.path.join(tdir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")
    config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": PAD,
        "clean_up_tokenization_spaces": False,
        "legacy": True,
        "model_max_length": 131072,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": DEEPSEEK32_TEMPLATE,
    }
    with open(os.path.join(tdir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
        f.write("\n")

    tok = Tokenizer.from_file(os.path.join(tdir, "tokenizer.json"))
    assert tok.get_vocab_size(with_added_tokens=True) == VOCAB_SIZE, tok.get_vocab_size()
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    plain_data = dict(data)
    plain_data["added_tokens"] = []
    plain = Tokenizer.from_str(json.dumps(plain_data))
    lines = []
    for t in TEXTS:
        a = tok.encode(t, add_special_tokens=False).ids
        b = plain.encode(t, add_special_tokens=False).ids
        assert tok.decode(a, skip_special_tokens=False) == t, t
        lines.append(f"{hexs(t)}\t{ids(a)}\t{ids(b)}")
    with open(os.path.join(out, "tokenizer-golden.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    # The same vocabulary and merges under the other pre-tokenizers the engine
    # recognises, to check that each maps to the right splitter.
    lines = []
    for name, pre in PRE_VARIANTS.items():
        vdir = os.path.join(out, "pre-variants", name)
        os.makedirs(vdir, exist_ok=True)
        vdata = dict(data)
        vdata["pre_tokenizer"] = pre
        with open(os.path.join(vdir, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(vdata, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        vtok = Tokenizer.from_file(os.path.join(vdir, "tokenizer.json"))
        for t in TEXTS:
            lines.append(f"{name}\t{hexs(t)}\t{ids(vtok.encode(t, add_special_tokens=False).ids)}")
    with open(os.path.join(out, "pre-variants-golden.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    from transformers import AutoTokenizer
    hf = AutoTokenizer.from_pretrained(tdir)
    assert hf.chat_template == DEEPSEEK32_TEMPLATE
    lines = []
    for conv in CONVERSATIONS:
        msgs = [{"role": r, "content": c} for r, c in conv]
        for add in (False, True):
            text = hf.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add)
            roles = ",".join(f"{r}:{hexs(c)}" for r, c in conv)
            lines.append(f"deepseek32\t{int(add)}\t{roles}\t{hexs(text)}")
    with open(os.path.join(out, "chat-golden.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(TEXTS)} texts, {len(CONVERSATIONS) * 2} chat renderings")
