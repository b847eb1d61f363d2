"""Envelope encryption, the key hierarchy, root-key providers and the blind index.

Imports neither `storage` nor `pipeline`.
"""
