"""The one exception tree of feedsvc.

::

    FeedsvcError
    ├── ConfigError          a config file or value is wrong (carries every problem found)
    ├── RulesError           a site rule file cannot be loaded at all
    ├── FetchError           an outbound request failed (carries the URL)
    │   ├── FetchTimeout         connect, read or total timeout
    │   ├── HTTPStatusError      the origin answered with a status we do not accept
    │   ├── TooLarge             the body (or its inflated form) passed the size cap
    │   ├── UnsupportedContent   not HTML / XML / a feed
    │   ├── RedirectError        redirect loop, too many redirects, or off-site redirect
    │   ├── RobotsDisallowed     robots.txt forbids the path
    │   └── HostPaused           the host is paused (circuit breaker, or a long Retry-After): not asked
    ├── DiscoverError        a section page or summary feed yields no usable references
    ├── ExtractError         a page yields no article (carries the URL)
    └── StoreError           the store failed or is unreachable

Library exceptions are translated into these where the library is called,
always with ``raise ... from exc``.
"""

from __future__ import annotations


class FeedsvcError(Exception):
    """Base of every error feedsvc raises on purpose."""


class ConfigError(FeedsvcError):
    """One or more problems in the configuration, reported together."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class RulesError(FeedsvcError):
    """A rule file could not be read."""


class FetchError(FeedsvcError):
    """An outbound HTTP request failed."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        super().__init__(f"{url}: {message}")


class FetchTimeout(FetchError):
    pass


class HTTPStatusError(FetchError):
    def __init__(self, url: str, status: int, message: str = "") -> None:
        self.status = status
        super().__init__(url, f"HTTP {status}{': ' + message if message else ''}")


class TooLarge(FetchError):
    pass


class UnsupportedContent(FetchError):
    pass


class RedirectError(FetchError):
    pass


class RobotsDisallowed(FetchError):
    pass


class HostPaused(FetchError):
    """No request was made: the host failed repeatedly or asked to be left alone for a while."""


class DiscoverError(FeedsvcError):
    pass


class ExtractError(FeedsvcError):
    def __init__(self, url: str, message: str) -> None:
        self.url = url
        super().__init__(f"{url}: {message}")


class StoreError(FeedsvcError):
    pass
