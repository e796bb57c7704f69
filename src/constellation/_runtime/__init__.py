"""What runs inside instance processes: the zygote, the worker loop and their wire format.

Kept apart from the platform's modules (and free of their imports) so that the zygote
and every worker forked from it stay small.
"""
