"""The sandbox's model catalogue as one table, one model a line (parsed by `catalogue`).

A table and not Python calls: 47 models stay readable at a glance, and the formatter would
spread each call over a dozen lines. Columns, separated by "|":

id | canonical slug ("" = the id) | name | created (unix s) | context length |
USD per million input tokens | per million output tokens | input modalities | output
modalities | endpoints ("provider:flags", z = keeps no data (ZDR), t = may train on prompts,
p = may publish them) | extras ("r" = reasoning, "x:YYYY-MM-DD" = expiration date,
"hf:<repo>" = Hugging Face id, "~<slug>" = a "-latest" alias of that model)
"""

# ruff: noqa: E501

MODEL_TABLE = """
openai/gpt-4o-mini|openai/gpt-4o-mini-2024-07-18|OpenAI: GPT-4o-mini|1721260800|128000|0.15|0.6|text,image,file|text|openai:z azure:z|
openai/gpt-4o||OpenAI: GPT-4o|1715558400|128000|2.5|10|text,image,file|text|openai:z azure:z|
openai/gpt-4.1|openai/gpt-4.1-2025-04-14|OpenAI: GPT-4.1|1744651385|1047576|2|8|text,image,file|text|openai:z azure:z|
openai/gpt-4.1-mini|openai/gpt-4.1-mini-2025-04-14|OpenAI: GPT-4.1 Mini|1744651381|1047576|0.4|1.6|text,image,file|text|openai:z azure:z|
openai/gpt-4.1-nano|openai/gpt-4.1-nano-2025-04-14|OpenAI: GPT-4.1 Nano|1744651369|1047576|0.1|0.4|text,image,file|text|openai:z azure:z|
openai/o4-mini|openai/o4-mini-2025-04-16|OpenAI: o4 Mini|1744820942|200000|1.1|4.4|text,image,file|text|openai:z azure:z|r
openai/gpt-5|openai/gpt-5-2025-08-07|OpenAI: GPT-5|1754587413|400000|1.25|10|text,image,file|text|openai:z azure:z|r
openai/gpt-5-mini|openai/gpt-5-mini-2025-08-07|OpenAI: GPT-5 Mini|1754587407|400000|0.25|2|text,image,file|text|openai:z azure:z|r
openai/gpt-5-nano|openai/gpt-5-nano-2025-08-07|OpenAI: GPT-5 Nano|1754587402|400000|0.05|0.4|text,image,file|text|openai:z azure:z|r
openai/gpt-5.2|openai/gpt-5.2-20251211|OpenAI: GPT-5.2|1765411200|400000|1.75|14|text,image,file|text|openai:z azure:z|r
openai/gpt-oss-120b||OpenAI: gpt-oss-120b|1754414231|131072|0.05|0.25|text|text|deepinfra:z groq:z together:z|r hf:openai/gpt-oss-120b
openai/gpt-4o-audio-preview||OpenAI: GPT-4o Audio|1755233061|128000|2.5|10|text,audio|text,audio|openai:z|
openai/gpt-5-image-mini|openai/gpt-5-image-mini-20251016|OpenAI: GPT-5 Image Mini|1760624583|400000|2.5|2|text,image,file|text,image|openai:z|r
openai/text-embedding-3-small||OpenAI: Text Embedding 3 Small|1706140800|8192|0.02|0|text|embeddings|openai:z azure:z|
anthropic/claude-haiku-4.5|anthropic/claude-4.5-haiku-20251001|Anthropic: Claude Haiku 4.5|1760547638|200000|1|5|text,image,file|text|anthropic:z amazon-bedrock:z google-vertex:z|r
anthropic/claude-sonnet-4.5|anthropic/claude-4.5-sonnet-20250929|Anthropic: Claude Sonnet 4.5|1759161676|1000000|3|15|text,image,file|text|anthropic:z amazon-bedrock:z google-vertex:z|r
anthropic/claude-opus-4.1|anthropic/claude-4.1-opus-20250805|Anthropic: Claude Opus 4.1|1754411591|200000|15|75|text,image,file|text|anthropic:z amazon-bedrock:z google-vertex:z|r
anthropic/claude-sonnet-4|anthropic/claude-4-sonnet-20250522|Anthropic: Claude Sonnet 4|1747930371|1000000|3|15|text,image,file|text|anthropic:z amazon-bedrock:z google-vertex:z|r
anthropic/claude-3.5-haiku|anthropic/claude-3-5-haiku-20241022|Anthropic: Claude 3.5 Haiku|1730678400|200000|0.8|4|text,image|text|anthropic:z amazon-bedrock:z|x:2026-12-31
~anthropic/claude-sonnet-latest||Anthropic: Claude Sonnet Latest|1759161676|1000000|3|15|text,image,file|text|anthropic:z amazon-bedrock:z google-vertex:z|r ~anthropic/claude-sonnet-4.5
google/gemini-2.5-flash||Google: Gemini 2.5 Flash|1750172488|1048576|0.3|2.5|text,image,file,audio,video|text|google-vertex:z google-ai-studio|r
google/gemini-2.5-pro||Google: Gemini 2.5 Pro|1750169544|1048576|1.25|10|text,image,file,audio,video|text|google-vertex:z google-ai-studio|r
google/gemini-2.5-flash-lite||Google: Gemini 2.5 Flash Lite|1753200276|1048576|0.1|0.4|text,image,file,audio,video|text|google-vertex:z google-ai-studio|r
google/gemini-2.0-flash-001||Google: Gemini 2.0 Flash|1738769413|1048576|0.1|0.4|text,image,file,audio,video|text|google-vertex:z google-ai-studio|x:2026-09-30
google/gemini-2.5-flash-image||Google: Gemini 2.5 Flash Image|1759870431|32768|0.3|2.5|text,image|text,image|google-vertex:z google-ai-studio|
google/gemma-3-27b-it||Google: Gemma 3 27B|1741756359|131072|0.09|0.16|text,image|text|deepinfra:z novita:t|hf:google/gemma-3-27b-it
google/gemma-3-27b-it:free||Google: Gemma 3 27B (free)|1741756359|96000|0|0|text,image|text|chutes:tp|hf:google/gemma-3-27b-it
meta-llama/llama-3.3-70b-instruct||Meta: Llama 3.3 70B Instruct|1733506137|131072|0.13|0.39|text|text|deepinfra:z together:z groq:z fireworks:z|hf:meta-llama/Llama-3.3-70B-Instruct
meta-llama/llama-3.3-70b-instruct:free||Meta: Llama 3.3 70B Instruct (free)|1733506137|65536|0|0|text|text|chutes:tp|hf:meta-llama/Llama-3.3-70B-Instruct
meta-llama/llama-4-maverick||Meta: Llama 4 Maverick|1743881822|1048576|0.15|0.6|text,image|text|deepinfra:z together:z groq:z|hf:meta-llama/Llama-4-Maverick-17B-128E-Instruct
meta-llama/llama-4-scout||Meta: Llama 4 Scout|1743881519|327680|0.08|0.3|text,image|text|deepinfra:z together:z groq:z|hf:meta-llama/Llama-4-Scout-17B-16E-Instruct
meta-llama/llama-3.1-8b-instruct||Meta: Llama 3.1 8B Instruct|1721692800|131072|0.02|0.03|text|text|deepinfra:z groq:z novita:t|hf:meta-llama/Meta-Llama-3.1-8B-Instruct
mistralai/mistral-large-2411||Mistral Large 2411|1731978415|131072|2|6|text|text|mistral:z|hf:mistralai/Mistral-Large-Instruct-2411
mistralai/mistral-small-3.2-24b-instruct|mistralai/mistral-small-3.2-24b-instruct-2506|Mistral: Mistral Small 3.2 24B|1750443016|131072|0.05|0.1|text,image|text|mistral:z deepinfra:z|hf:mistralai/Mistral-Small-3.2-24B-Instruct-2506
mistralai/mistral-nemo||Mistral: Mistral Nemo|1721347200|131072|0.02|0.04|text|text|mistral:z deepinfra:z|hf:mistralai/Mistral-Nemo-Instruct-2407
mistralai/codestral-2508||Mistral: Codestral 2508|1754079630|256000|0.3|0.9|text|text|mistral:z|
deepseek/deepseek-chat-v3.1||DeepSeek: DeepSeek V3.1|1755779628|163840|0.25|1|text|text|deepseek:t deepinfra:z fireworks:z|r hf:deepseek-ai/DeepSeek-V3.1
deepseek/deepseek-r1-0528||DeepSeek: R1 0528|1748455170|163840|0.5|2.15|text|text|deepseek:t deepinfra:z together:z|r hf:deepseek-ai/DeepSeek-R1-0528
deepseek/deepseek-r1-0528:free||DeepSeek: R1 0528 (free)|1748455170|163840|0|0|text|text|chutes:tp|r hf:deepseek-ai/DeepSeek-R1-0528
x-ai/grok-4|x-ai/grok-4-07-09|xAI: Grok 4|1752087689|256000|3|15|text,image,file|text|xai|r
x-ai/grok-3-mini||xAI: Grok 3 Mini|1749583245|131072|0.3|0.5|text|text|xai|r
x-ai/grok-code-fast-1||xAI: Grok Code Fast 1|1756238927|256000|0.2|1.5|text|text|xai|r
qwen/qwen3-235b-a22b-2507||Qwen: Qwen3 235B A22B Instruct 2507|1753119555|262144|0.08|0.55|text|text|alibaba deepinfra:z together:z|hf:Qwen/Qwen3-235B-A22B-Instruct-2507
qwen/qwen3-coder|qwen/qwen3-coder-480b-a35b-07-25|Qwen: Qwen3 Coder 480B A35B|1753230546|262144|0.22|0.95|text|text|alibaba deepinfra:z|hf:Qwen/Qwen3-Coder-480B-A35B-Instruct
qwen/qwen3-32b||Qwen: Qwen3 32B|1745875945|40960|0.03|0.13|text|text|deepinfra:z groq:z|r hf:Qwen/Qwen3-32B
moonshotai/kimi-k2|moonshotai/kimi-k2-0711|MoonshotAI: Kimi K2 0711|1752263252|131072|0.5|2.4|text|text|moonshotai groq:z together:z|hf:moonshotai/Kimi-K2-Instruct
cohere/command-r-plus-08-2024||Cohere: Command R+ (08-2024)|1724976000|128000|2.5|10|text|text|cohere:z|
"""
