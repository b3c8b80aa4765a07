"""Every route of the OpenAPI document has a summary and a description in business words (api/texts.py)."""

from api.texts import ROUTE_TEXTS


def _operations(app):
    return [(m.upper(), p, op) for p, ms in app.openapi()["paths"].items() for m, op in ms.items()]


def test_every_route_has_its_words(api_app):
    missing = [(m, p) for m, p, _ in _operations(api_app) if (m, p) not in ROUTE_TEXTS]
    assert not missing, f"routes without a summary in api/texts.py: {missing}"
    for method, path, op in _operations(api_app):
        assert op["summary"] == ROUTE_TEXTS[(method, path)][0], (method, path)
        assert len(op.get("description", "")) >= 20, f"{method} {path} has no description"


def test_no_stale_entries():
    from api.main import create_app

    live = {(m, p) for m, p, _ in _operations(create_app(temporal_client=object()))}
    assert set(ROUTE_TEXTS) - live == set(), "api/texts.py names routes that no longer exist"


def test_error_answers_are_described(api_app):
    op = api_app.openapi()["paths"]["/orders"]["post"]
    assert "`type` is stable for programs" in op["description"]
    assert any(code.startswith("4") for code in op["responses"])
