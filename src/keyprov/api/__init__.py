"""Everything that speaks HTTP to OpenRouter: the configuration read from the environment, the
checked base URL, the transport with its one retry layer, the pacer that learns the rate limit,
the checks every answer passes, and the key and guardrail endpoints.

May import only the base modules (keyprov.errors, models, redaction, ...).
"""
