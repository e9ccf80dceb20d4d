#!/usr/bin/env python3
"""Golden chat renderings from the Jinja chat templates, rendered by jinja2
as transformers renders them (sandboxed environment, trim_blocks,
lstrip_blocks).

Templates:
  chatml    the default model's own tokenizer.chat_template, read from the GGUF
  llama3    Meta-Llama-3-8B-Instruct's tokenizer_config.json chat_template
  deepseek3 DeepSeek-V3's tokenizer_config.json chat_template
The last two are copied below as published on the Hugging Face Hub (their
tool-call branches are never reached: the messages have role and content
only).

Writes tests/data/tokenizer/chat-golden.txt, one rendering per line:
  TEMPLATE <TAB> ADD_ASSISTANT(0|1) <TAB> ROLE:HEX,ROLE:HEX,... <TAB> HEX
where HEX is UTF-8 in hex. Also chat-templates.txt: NAME <TAB> HEX of each
template string, for the detection tests.

Usage: make-chat-golden.py [MODEL.gguf] [OUT_DIR]
"""

import os
import sys

from gguf import GGUFReader
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.expanduser(
    "~/.local/share/sightline/models/SmolLM2-135M-Instruct.Q4_1.gguf")

LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}")

DEEPSEEK3_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}"
    "{% endif %}{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, "
    "system_prompt='', is_first_sp=true) %}{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}"
    "{% set ns.system_prompt = ns.system_prompt + message['content'] %}"
    "{% set ns.is_first_sp = false %}{%- else %}"
    "{% set ns.system_prompt = ns.system_prompt + '\n\n' + message['content'] %}"
    "{%- endif %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}"
    "{%- for message in messages %}{%- if message['role'] == 'user' %}"
    "{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is none %}"
    "{%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}"
    "{%- if not ns.is_first %}{{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + "
    "tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + "
    "tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}"
    "{%- set ns.is_first = true -%}{%- else %}{{'\n' + '<｜tool▁call▁begin｜>' + tool['type'] + "
    "'<｜tool▁sep｜>' + tool['function']['name'] + '\n' + '```json' + '\n' + "
    "tool['function']['arguments'] + '\n' + '```' + '<｜tool▁call▁end｜>'}}"
    "{{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
    "{%- if ns.is_tool %}{{'<｜tool▁outputs▁end｜>' + message['content'] + "
    "'<｜end▁of▁sentence｜>'}}{%- set ns.is_tool = false -%}{%- else %}"
    "{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- endif %}"
    "{%- endif %}{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}"
    "{%- if ns.is_output_first %}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + "
    "message['content'] + '<｜tool▁output▁end｜>'}}{%- set ns.is_output_first = false %}"
    "{%- else %}{{'\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}"
    "{%- endif %}{%- endif %}{%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}"
    "{% endif %}{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}"
    "{% endif %}")

BOS = {"chatml": "", "llama3": "<|begin_of_text|>", "deepseek3": "<｜begin▁of▁sentence｜>"}

CONVERSATIONS = [
    [],
    [("user", "Hello!")],
    [("system", "You are terse."), ("user", "Hi")],
    [("user", "What is 2+2?"), ("assistant", "4"), ("user", "And 3+3?")],
    [("system", "S1"), ("system", "S2"), ("user", "u")],
    [("user", "u1"), ("system", "late system"), ("assistant", "a1")],
    [("assistant", "I start.")],
    [("user", "  padded with spaces  ")],
    [("user", "\n\tleading newline and tab\n\n")],
    [("user", "\u00a0\u3000unicode spaces\u2003")],
    [("user", "\x1cfile separator\x1f")],
    [("user", "")],
    [("user", "   ")],
    [("system", ""), ("user", "")],
    [("user", "日本語のテキスト 😀 עברית")],
    [("user", "<|im_start|>looks special<|im_end|>"), ("assistant", "<|eot_id|>")],
    [("user", "multi\nline\n\ncontent\n"), ("assistant", " answer with spaces ")],
    [("system", "sys"), ("user", "q1"), ("assistant", "a1"), ("user", "q2"),
     ("assistant", "a2"), ("user", "q3")],
    [("system", "Résumé: naïve café"), ("user", "{{ not jinja }} {% raw %}")],
]


def render(env, template, name, messages, add):
    t = env.from_string(template)
    return t.render(messages=[{"role": r, "content": c} for r, c in messages],
                    add_generation_prompt=add, bos_token=BOS[name],
                    eos_token="", raise_exception=None)


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        HERE, "..", "data", "tokenizer")
    r = GGUFReader(model)
    f = r.fields["tokenizer.chat_template"]
    chatml = bytes(f.parts[f.data[0]]).decode("utf-8")
    templates = {"chatml": chatml, "llama3": LLAMA3_TEMPLATE, "deepseek3": DEEPSEEK3_TEMPLATE}
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols"])
    lines = 0
    with open(os.path.join(out_dir, "chat-golden.txt"), "w", encoding="ascii",
              newline="\n") as out:
        for name, template in templates.items():
            for conv in CONVERSATIONS:
                for add in (False, True):
                    text = render(env, template, name, conv, add)
                    msgs = ",".join(f"{role}:{content.encode('utf-8').hex()}"
                                    for role, content in conv)
                    out.write(f"{name}\t{int(add)}\t{msgs}\t{text.encode('utf-8').hex()}\n")
                    lines += 1
    with open(os.path.join(out_dir, "chat-templates.txt"), "w", encoding="ascii",
              newline="\n") as out:
        for name, template in templates.items():
            out.write(f"{name}\t{template.encode('utf-8').hex()}\n")
    print(lines, "renderings")


if __name__ == "__main__":
    main()
