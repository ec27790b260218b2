"""API keys and tracked links."""

from __future__ import annotations

import itertools

from statushooks import accounts, links


def test_api_keys_are_random_and_hashed() -> None:
    """Keys are sk_-prefixed, distinct, and stored as a stable SHA-256 hex digest."""
    first, second = accounts.new_api_key(), accounts.new_api_key()
    assert first.startswith("sk_") and first != second
    assert accounts.hash_api_key(first) == accounts.hash_api_key(first)
    assert len(accounts.hash_api_key(first)) == 64
    assert accounts.display_prefix(first) == first[:10]


def test_track_links_rewrites_each_url() -> None:
    """Each URL becomes {base}/l/{code}; trailing punctuation stays in the text."""
    codes = (f"c{i}" for i in itertools.count())
    text, made = links.track_links(
        "Go to https://a.example/x?y=1, or http://b.example.",
        public_base_url="https://hooks.example.com",
        new_code=lambda: next(codes),
    )
    assert text == "Go to https://hooks.example.com/l/c0, or https://hooks.example.com/l/c1."
    assert [(link.code, link.url) for link in made] == [
        ("c0", "https://a.example/x?y=1"),
        ("c1", "http://b.example"),
    ]


def test_text_without_links_is_unchanged() -> None:
    """Text with no URL is returned as it was, with no links made."""
    assert links.track_links("hello", public_base_url="https://h") == ("hello", ())
