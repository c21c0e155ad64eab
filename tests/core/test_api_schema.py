"""The OpenAPI schema is served (the widget API of a later issue documents itself there)."""


def test_the_openapi_schema_is_served(client, db):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert b"openapi: 3" in response.content


def test_the_root_sends_people_to_the_admin(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == "/admin/"
