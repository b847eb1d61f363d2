"""The one compiled part of ordervault: crypto._aead, the per-record AES-GCM formats on OpenSSL.

Everything else is in pyproject.toml. The extension is optional: without a C compiler or the
OpenSSL 3 headers (Debian: gcc, libssl-dev) the install still succeeds and `crypto` uses its
pure-Python path; `crypto.backend()` says which one is loaded.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "crypto._aead",
            sources=["crypto/_aead.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
