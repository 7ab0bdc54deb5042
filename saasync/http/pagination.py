"""Paginators: tiny state machines that, given the last page's JSON, name the next page.

One per paging style among our vendors, so a connector picks one instead of writing a
loop. ``first_params()`` starts (and resets) a run; ``next_params(page)`` returns only
the parameters that change for the next page, or None when the list is done. A server
that says "more" but repeats a token, or gives none, would loop forever: that raises
FatalError instead. :func:`paginate` drives any paginator through an :class:`HttpClient`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

from saasync.errors import FatalError

T = TypeVar("T")
Items = Callable[[Any], Sequence[Any]]


class Paginator(Protocol):
    """The contract every paginator keeps."""

    def first_params(self) -> dict[str, Any]: ...

    def next_params(self, page: Any) -> dict[str, Any] | None: ...


class JsonRequester(Protocol):
    """The slice of HttpClient that paging needs (tests may pass a fake)."""

    def request_json(self, method: str, path_or_url: str, *, params: Mapping[str, Any] | None = ...,
                     json: Any = ..., headers: Mapping[str, str] | None = ...) -> Any: ...


def dig(page: Any, *keys: str) -> Any:
    """``page[k1][k2]…``, or None as soon as a level is missing or not an object."""
    for key in keys:
        if not isinstance(page, Mapping):
            return None
        page = page.get(key)
    return page


def key_path(*keys: str) -> Items:
    """An extractor for the list at ``keys``; an absent or null list is empty.

    QuickBooks, for one, drops the entity key altogether from an empty result.
    """

    def items(page: Any) -> Sequence[Any]:
        found = dig(page, *keys)
        return found if isinstance(found, list) else []

    return items


class _TokenPaginator:
    """Shared by token styles: remember tokens, refuse a missing or repeated one."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def _reset(self) -> None:
        self._seen = set()

    def _checked(self, token: Any, style: str) -> str:
        if token is None or token == "":
            raise FatalError(f"{style}: the server said there are more pages but gave no token")
        text = str(token)
        if text in self._seen:
            raise FatalError(f"{style}: the server repeated page token {text[:40]!r}; stopping "
                             "rather than looping")
        self._seen.add(text)
        return text


class CursorPaginator(_TokenPaginator):
    """Opaque cursor plus ``has_more``: ChartMogul (``cursor``) by default.

    Stop on ``has_more`` false even when a cursor is present: ChartMogul sends a non-null
    cursor on last pages. For Stripe's ``starting_after`` use :meth:`starting_after`.
    """

    def __init__(self, *, param: str = "cursor", cursor_key: str = "cursor",
                 has_more_key: str = "has_more", page_size: int | None = None,
                 size_param: str = "per_page", token: Callable[[Any], Any] | None = None) -> None:
        super().__init__()
        self.param = param
        self.has_more_key = has_more_key
        self._size = {size_param: page_size} if page_size else {}
        self._token = token if token is not None else (lambda page: dig(page, cursor_key))

    @classmethod
    def starting_after(cls, *, items_key: str = "data", id_key: str = "id",
                       page_size: int | None = None, size_param: str = "limit") -> CursorPaginator:
        """Stripe: the last item's id becomes ``starting_after``."""

        def last_id(page: Any) -> Any:
            items = key_path(items_key)(page)
            return dig(items[-1], id_key) if items else None

        return cls(param="starting_after", page_size=page_size, size_param=size_param,
                   token=last_id)

    def first_params(self) -> dict[str, Any]:
        self._reset()
        return dict(self._size)

    def next_params(self, page: Any) -> dict[str, Any] | None:
        if dig(page, self.has_more_key) is not True:
            return None
        return {self.param: self._checked(self._token(page), "cursor paging")}


class OffsetTokenPaginator(_TokenPaginator):
    """Chargebee: send ``next_offset`` back as ``offset`` until it no longer appears."""

    def __init__(self, *, param: str = "offset", token_key: str = "next_offset",
                 page_size: int | None = None, size_param: str = "limit") -> None:
        super().__init__()
        self.param = param
        self.token_key = token_key
        self._size = {size_param: page_size} if page_size else {}

    def first_params(self) -> dict[str, Any]:
        self._reset()
        return dict(self._size)

    def next_params(self, page: Any) -> dict[str, Any] | None:
        token = dig(page, self.token_key)
        if token is None or token == "":
            return None
        return {self.param: self._checked(token, "offset-token paging")}


class NextLinkPaginator(_TokenPaginator):
    """Recurly: follow ``next`` while ``has_more`` is true.

    The link is a path plus the full query of the next page; its query becomes the next
    params (it repeats the original filters, so merging over them changes nothing else).
    """

    def __init__(self, *, link_key: str = "next", has_more_key: str | None = "has_more") -> None:
        super().__init__()
        self.link_key = link_key
        self.has_more_key = has_more_key

    def first_params(self) -> dict[str, Any]:
        self._reset()
        return {}

    def next_params(self, page: Any) -> dict[str, Any] | None:
        link = dig(page, self.link_key)
        if self.has_more_key is not None and dig(page, self.has_more_key) is not True:
            return None
        if self.has_more_key is None and not link:
            return None
        query = parse_qs(urlsplit(self._checked(link, "next-link paging")).query,
                         keep_blank_values=True)
        return {k: v[0] if len(v) == 1 else v for k, v in query.items()}


class PageNumberPaginator:
    """Xero: ``page=1, 2, …`` until a page holds fewer than ``page_size`` items."""

    def __init__(self, items: Items, *, page_size: int = 100, page_param: str = "page",
                 size_param: str | None = "pageSize", first_page: int = 1) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.items = items
        self.page_size = page_size
        self.page_param = page_param
        self.size_param = size_param
        self.first_page = first_page
        self._page = first_page

    def first_params(self) -> dict[str, Any]:
        self._page = self.first_page
        params: dict[str, Any] = {self.page_param: self._page}
        if self.size_param:
            params[self.size_param] = self.page_size
        return params

    def next_params(self, page: Any) -> dict[str, Any] | None:
        if len(self.items(page)) < self.page_size:
            return None
        self._page += 1
        return {self.page_param: self._page}


class StartPositionPaginator:
    """QuickBooks: ``<statement> STARTPOSITION n MAXRESULTS m`` in the ``query`` parameter.

    STARTPOSITION is 1-based; there is no cursor, so a short page ends the list.
    """

    def __init__(self, statement: str, items: Items, *, page_size: int = 1000,
                 param: str = "query") -> None:
        if not 1 <= page_size <= 1000:
            raise ValueError("QuickBooks returns at most 1000 entities: page_size must be 1..1000")
        self.statement = statement.strip()
        self.items = items
        self.page_size = page_size
        self.param = param
        self._start = 1

    def _params(self) -> dict[str, Any]:
        return {self.param: f"{self.statement} STARTPOSITION {self._start} "
                            f"MAXRESULTS {self.page_size}"}

    def first_params(self) -> dict[str, Any]:
        self._start = 1
        return self._params()

    def next_params(self, page: Any) -> dict[str, Any] | None:
        if len(self.items(page)) < self.page_size:
            return None
        self._start += self.page_size
        return self._params()


class RelayPaginator(_TokenPaginator):
    """GraphQL connections (gaiia): ``first``/``after`` from ``pageInfo{hasNextPage,endCursor}``.

    The params are GraphQL variables: drive it with ``paginate(..., json_body=...)``.
    """

    def __init__(self, connection_path: Sequence[str], *, page_size: int = 50,
                 first_var: str = "first", after_var: str = "after") -> None:
        super().__init__()
        self.connection_path = tuple(connection_path)
        self.page_size = page_size
        self.first_var = first_var
        self.after_var = after_var

    def first_params(self) -> dict[str, Any]:
        self._reset()
        return {self.first_var: self.page_size}

    def next_params(self, page: Any) -> dict[str, Any] | None:
        info = dig(page, *self.connection_path, "pageInfo")
        if dig(info, "hasNextPage") is not True:
            return None
        return {self.after_var: self._checked(dig(info, "endCursor"), "relay paging")}


def paginate(
    client: JsonRequester,
    method: str,
    path: str,
    paginator: Paginator,
    params: Mapping[str, Any] | None = None,
    *,
    extract: Callable[[Any], Iterable[T]],
    json_body: Callable[[dict[str, Any]], Any] | None = None,
) -> Iterator[T]:
    """Yield ``extract(page)`` for every page until the paginator says stop.

    Each page's params are ``params`` + ``first_params()`` + the latest ``next_params``.
    With ``json_body`` they are handed to it to build the request body instead of the
    query string (GraphQL variables: ``lambda v: {"query": Q, "variables": v}``).
    """
    first = paginator.first_params()
    page_params: dict[str, Any] = {}
    while True:
        merged = {**(params or {}), **first, **page_params}
        if json_body is not None:
            page = client.request_json(method, path, json=json_body(merged))
        else:
            page = client.request_json(method, path, params=merged)
        yield from extract(page)
        following = paginator.next_params(page)
        if following is None:
            return
        page_params = following
