"""Where the worker may send requests that a researcher configured, and which keys may go with them.

A study system or a system benchmark can call "any OpenAI-compatible endpoint". The base URL comes from a
researcher, the worker makes the request, and a key may go with it, so three rules apply:

* **Keys come from a registry an administrator set up**, never from a variable the researcher names.
  ``LOUPE_ENDPOINT_CREDENTIALS`` lists ``name=VARIABLE@host`` entries (comma-separated; several hosts with
  ``|``); the researcher picks a *name*, the worker reads ``VARIABLE`` from its environment, and the key is
  only ever sent to one of the entry's hosts. The configured LLM server's key is always registered as
  ``llm`` (``LOUPE_LLM_API_KEY`` for the host of ``LOUPE_LLM_BASE_URL``).
* **Hosts come from an allow-list**: ``LOUPE_ENDPOINT_ALLOWED_HOSTS`` (``host``, ``host:port`` or
  ``*.domain``), plus the configured LLM server and the hosts of registered credentials. Nothing else.
* **Private, loopback, link-local and reserved addresses are refused** unless they fall in
  ``LOUPE_ENDPOINT_PRIVATE_NETWORKS`` (CIDRs) or the host is the configured LLM server. The check runs
  where the socket is opened, on the address actually connected to (so DNS answers that change between
  a check and the connection cannot slip past it), for the first request and every redirect. Redirects
  to another origin drop the ``Authorization`` header (httpx does this).

Upstream error text is shortened and scrubbed (:func:`scrub`) before anyone sees it.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpcore2
import httpx2

from config.parsing import parse_int

__all__ = [
    "Credential", "EgressPolicy", "EgressRefused", "EndpointAccess", "endpoint_access", "endpoint_policy", "scrub",
    "secret_values", "validate_endpoint",
]

CREDENTIAL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LLM_CREDENTIAL = "llm"


class EgressRefused(ValueError):
    """A request, host or key that the administrator's policy does not allow; ``str()`` says why and what to set.

    ``field`` is ``"url"`` or ``"credential"``: which of the researcher's inputs was refused.
    """

    def __init__(self, message: str, *, field: str = "url"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Credential:
    """A key an administrator registered: its name, the worker's variable holding it, the hosts it may go to."""

    name: str
    variable: str
    hosts: tuple[str, ...]


def _split_host_port(authority: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` → (lower-case host without brackets, port or None)."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif authority.count(":") == 1:
        host, port = authority.split(":")
    else:
        host, port = authority, ""
    number = parse_int(port, minimum=1, maximum=65535) if port else None
    if port and number is None:
        raise ValueError(f"{authority!r}: the port must be a number from 1 to 65535")
    return host.rstrip("."), number


def _host_matches(pattern: str, host: str, port: int) -> bool:
    wanted_host, wanted_port = _split_host_port(pattern)
    if wanted_port is not None and wanted_port != port:
        return False
    if wanted_host.startswith("*."):
        return host.endswith(wanted_host[1:])
    return host == wanted_host


def _url_host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EgressRefused(f"{url!r} is not an http(s) URL.")
    if parts.username or parts.password:
        raise EgressRefused("The URL must not carry a user name or password; keys come from the credential registry.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise EgressRefused(f"{url!r} has an invalid port.") from error
    return parts.hostname.lower().rstrip("."), port


@dataclass(frozen=True)
class EgressPolicy:
    """The administrator's rules for requests to researcher-configured endpoints (see the module docstring)."""

    allowed_hosts: tuple[str, ...] = ()
    private_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    credentials: Mapping[str, Credential] = field(default_factory=dict)

    @classmethod
    def from_config(cls, *, credentials: str = "", allowed_hosts: str = "", private_networks: str = "",
                    llm_base_url: str = "") -> EgressPolicy:
        """The policy from the settings' text forms; ValueError names the entry that cannot be read."""
        registry: dict[str, Credential] = {}
        llm_hosts: tuple[str, ...] = ()
        if llm_base_url:
            host, port = _url_host_port(llm_base_url)
            llm_hosts = (f"[{host}]:{port}" if ":" in host else f"{host}:{port}",)
            registry[LLM_CREDENTIAL] = Credential(LLM_CREDENTIAL, "LOUPE_LLM_API_KEY", llm_hosts)
        for entry in filter(None, (part.strip() for part in credentials.split(","))):
            name, equals, rest = entry.partition("=")
            variable, at, hosts = rest.partition("@")
            name, variable = name.strip(), variable.strip()
            host_list = tuple(h.strip() for h in hosts.split("|") if h.strip())
            try:
                if not equals or not at or not CREDENTIAL_NAME.match(name) or not _VARIABLE.match(variable) or not host_list:
                    raise ValueError("expected name=VARIABLE@host[|host...]")
                for host in host_list:
                    _split_host_port(host)
            except ValueError as error:
                raise ValueError(f"LOUPE_ENDPOINT_CREDENTIALS: {entry!r}: {error}") from None
            registry[name] = Credential(name, variable, host_list)
        hosts = tuple(h.strip() for h in allowed_hosts.split(",") if h.strip())
        for host in hosts:
            try:
                _split_host_port(host)
            except ValueError as error:
                raise ValueError(f"LOUPE_ENDPOINT_ALLOWED_HOSTS: {error}") from None
        try:
            networks = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in private_networks.split(",") if n.strip())
        except ValueError as error:
            raise ValueError(f"LOUPE_ENDPOINT_PRIVATE_NETWORKS: {error}") from None
        return cls(allowed_hosts=hosts, private_networks=networks, trusted_hosts=llm_hosts, credentials=registry)

    # ------------------------------------------------------------------------- checks

    def _all_hosts(self) -> Iterable[str]:
        yield from self.allowed_hosts
        yield from self.trusted_hosts
        for credential in self.credentials.values():
            yield from credential.hosts

    def check_host(self, host: str, port: int) -> None:
        """Refuse a host (and port) that no allow-list entry names."""
        if not any(_host_matches(pattern, host, port) for pattern in self._all_hosts()):
            raise EgressRefused(
                f"The host {host}:{port} is not allowed for endpoints. An administrator can allow it in "
                "LOUPE_ENDPOINT_ALLOWED_HOSTS (or register a credential for it in LOUPE_ENDPOINT_CREDENTIALS)."
            )

    def check_address(self, host: str, port: int, address: str) -> None:
        """Refuse a private, loopback, link-local or reserved address unless allowed for this host."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if getattr(ip, "ipv4_mapped", None):
            ip = ip.ipv4_mapped
        if ip.is_global and not ip.is_multicast:
            return
        if any(_host_matches(pattern, host, port) for pattern in self.trusted_hosts):
            return
        if any(ip in network for network in self.private_networks):
            return
        raise EgressRefused(
            f"{host} resolves to {ip}, a private, loopback, link-local or reserved address. An administrator can "
            "allow that network in LOUPE_ENDPOINT_PRIVATE_NETWORKS."
        )

    def check_url(self, url: str) -> None:
        """The checks that need no DNS: scheme, no user info, an allowed host, and no forbidden IP literal."""
        host, port = _url_host_port(url)
        self.check_host(host, port)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return
        self.check_address(host, port, host)

    def credential(self, name: str, url: str) -> Credential:
        """The registered credential ``name``, if it may be sent to ``url``'s host; EgressRefused otherwise."""
        credential = self.credentials.get(name)
        if credential is None:
            known = ", ".join(sorted(self.credentials)) or "none"
            raise EgressRefused(  # the name is not echoed: a pasted key must not come back in a message
                f"That is not a registered credential (registered: {known}). Keys are chosen by name from the "
                "credentials an administrator set in LOUPE_ENDPOINT_CREDENTIALS, never by environment variable.",
                field="credential",
            )
        host, port = _url_host_port(url)
        if not any(_host_matches(pattern, host, port) for pattern in credential.hosts):
            raise EgressRefused(
                f"The credential {name!r} may only be sent to {', '.join(credential.hosts)}, not to {host}:{port}.",
                field="credential",
            )
        return credential

    def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, each checked; refused if any of them is not allowed."""
        self.check_host(host, port)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise httpcore2.ConnectError(f"cannot resolve {host}: {error}") from error
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:
            self.check_address(host, port, address)
        return addresses

    # ------------------------------------------------------------------------- the HTTP client

    def http_client(self, *, timeout_s: float, max_redirects: int = 3) -> httpx2.Client:
        """An httpx client for the OpenAI SDK that applies this policy to every request and redirect."""
        return httpx2.Client(
            transport=_GuardedTransport(self), trust_env=False, timeout=timeout_s,
            follow_redirects=True, max_redirects=max_redirects,
        )


class _GuardedBackend(httpcore2.SyncBackend):
    """Opens sockets only to checked addresses: the connection goes to the address that was checked."""

    def __init__(self, policy: EgressPolicy):
        self.policy = policy

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = self.policy.resolve(host, port)
        except EgressRefused as error:
            raise httpcore2.ConnectError(str(error)) from error
        last_error: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore2.ConnectError as error:
                last_error = error
        raise last_error or httpcore2.ConnectError(f"no address for {host}")


class _GuardedTransport(httpx2.HTTPTransport):
    """httpx's transport with the host check on every request (redirects included) and a guarded backend."""

    def __init__(self, policy: EgressPolicy):
        super().__init__(trust_env=False)
        self.policy = policy
        # httpx builds its connection pool without a way to pass a network backend; this pinned version's pool
        # reads it from this attribute on every new connection (tests/test_egress.py proves it is used).
        self._pool._network_backend = _GuardedBackend(policy)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            self.policy.check_url(str(request.url))
        except EgressRefused as error:
            raise httpx2.ConnectError(str(error), request=request) from error
        return super().handle_request(request)


# ----------------------------------------------------------------------------- scrubbing

_SECRET_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"),
    re.compile(r"(?i)(api[_-]?key|access[_-]?token|token|secret|password|passwd|authorization)([\"'\s:=]+)[^\s\"',;}]+"),
    re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"),
    re.compile(r"\b[A-Za-z0-9_+/=-]{32,}"),
)
_REPLACEMENTS = ("\\1 [redacted]", "[redacted]", "\\1\\2[redacted]", "\\1[redacted]@", "[redacted]")


def scrub(text: str, secrets: Iterable[str] = (), limit: int = 300) -> str:
    """``text`` shortened to ``limit`` characters, with the given secret values and anything shaped like a
    credential (bearer tokens, ``sk-`` keys, ``key=...``, passwords in URLs, long opaque tokens) redacted."""
    text = str(text)
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    for pattern, replacement in zip(_SECRET_PATTERNS, _REPLACEMENTS):
        text = pattern.sub(replacement, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------- the Django side


def endpoint_policy() -> EgressPolicy:
    """The policy from the current settings (read on every call, so a changed setting applies at once)."""
    from django.conf import settings

    return EgressPolicy.from_config(
        credentials=settings.LOUPE_ENDPOINT_CREDENTIALS, allowed_hosts=settings.LOUPE_ENDPOINT_ALLOWED_HOSTS,
        private_networks=settings.LOUPE_ENDPOINT_PRIVATE_NETWORKS, llm_base_url=settings.LOUPE_LLM_BASE_URL,
    )


def secret_values() -> list[str]:
    """The secrets this process knows (registered keys, signing key, database and broker URLs) for :func:`scrub`."""
    import os

    from django.conf import settings

    values = [settings.SECRET_KEY, settings.LOUPE_LLM_API_KEY, os.environ.get("DATABASE_URL", ""),
              str(getattr(settings, "CELERY_BROKER_URL", "")), str(getattr(settings, "CELERY_RESULT_BACKEND", ""))]
    try:
        policy = endpoint_policy()
    except ValueError:
        policy = EgressPolicy()
    values += [os.environ.get(credential.variable, "") for credential in policy.credentials.values()]
    password = settings.DATABASES["default"].get("PASSWORD")
    return [value for value in values + [password or ""] if value]


def validate_endpoint(base_url: str, credential_name: str = "") -> None:
    """What can be checked when a researcher saves an endpoint: an allowed URL and, if named, a credential that
    is registered for that host. Raises EgressRefused with a message for the researcher."""
    policy = endpoint_policy()
    policy.check_url(base_url)
    if credential_name:
        policy.credential(credential_name, base_url)


@dataclass(frozen=True)
class EndpointAccess:
    """What the worker needs to call an endpoint: the key (possibly empty), a guarded httpx client, a scrubber."""

    api_key: str
    http_client: httpx2.Client
    scrub: Callable[[str], str]


def endpoint_access(base_url: str, credential_name: str = "", *, timeout_s: float) -> EndpointAccess:
    """Check ``base_url`` and the credential under the current policy and get ready to call it (on the worker).

    The host's addresses are checked here too, so that a refusal reads clearly instead of as a failed connection;
    the connection itself checks them again on the address it opens.
    """
    import os

    policy = endpoint_policy()
    validate_endpoint(base_url, credential_name)
    key = ""
    if credential_name:
        variable = policy.credentials[credential_name].variable
        key = os.environ.get(variable, "")
        if not key:
            raise EgressRefused(
                f"The credential {credential_name!r} has no value on this worker ({variable} is not set).", field="credential"
            )
    host, port = _url_host_port(base_url)
    try:
        policy.resolve(host, port)
    except httpcore2.ConnectError:
        pass  # unresolvable now: the client reports it as unreachable, with retries
    secrets = [*secret_values(), key]
    return EndpointAccess(key, policy.http_client(timeout_s=timeout_s), lambda text: scrub(text, secrets))


CREDENTIAL_UNKNOWN = "That is not a registered credential; choose one an administrator set in LOUPE_ENDPOINT_CREDENTIALS."
CREDENTIAL_HELP = ("A key an administrator registered for the endpoint's host (LOUPE_ENDPOINT_CREDENTIALS); the worker "
                   "reads it and sends it only there. Keys are never typed in or stored.")


def credential_choices() -> list[tuple[str, str]]:
    """Form choices: no key, then each registered credential with the hosts it may go to."""
    try:
        credentials = endpoint_policy().credentials.values()
    except ValueError:
        credentials = ()
    return [("", "No key")] + [(c.name, f"{c.name} (for {', '.join(c.hosts)})") for c in credentials]
