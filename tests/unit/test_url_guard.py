import pytest

from paygate.adapters.url_guard import UrlGuard


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/h", "https://localhost/h", "https://10.0.0.5/h", "https://192.168.1.1/h",
    "https://169.254.169.254/latest", "https://[::1]/h", "https://172.16.0.1/h", "https://0.0.0.0/h",
])
def test_private_loopback_and_link_local_targets_are_refused_in_production(url):
    assert "private" in UrlGuard(allow_private=False).check(url)


@pytest.mark.parametrize("url", ["ftp://x.test/h", "not a url", "http://8.8.8.8/h", "https://u:p@8.8.8.8/h"])
def test_only_https_urls_without_credentials_in_production(url):
    assert UrlGuard(allow_private=False).check(url) is not None


def test_a_public_address_is_accepted():
    assert UrlGuard(allow_private=False).check("https://8.8.8.8/hook") is None


def test_dev_mode_allows_loopback_receivers():
    assert UrlGuard(allow_private=True).check("http://127.0.0.1:8080/hook") is None
    assert UrlGuard(allow_private=True).check("ftp://127.0.0.1/") is not None


@pytest.mark.parametrize("url", ["http://exa mple.com/", "http://\u0000x.com/", "http://a..b/h", "http://-x.com/",
                                 "http://127.0.0.1:0/h", "http://127.0.0.1:8080/h\u0000"])
def test_malformed_hosts_are_refused_even_in_dev_mode(url):
    assert UrlGuard(allow_private=True).check(url) is not None


def test_ipv6_and_names_with_ports_are_fine_in_dev_mode():
    assert UrlGuard(allow_private=True).check("http://[::1]:8080/h") is None
    assert UrlGuard(allow_private=True).check("http://receiver.local:8080/h") is None
