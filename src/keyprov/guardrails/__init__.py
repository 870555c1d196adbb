"""Which models and providers a workshop's keys may use: the policy from the options, how the
guardrail on the server differs from it, the one guardrail per workshop with every key
assigned, and the step a run takes to keep them in step.

May import engine and the rooms below it.
"""
