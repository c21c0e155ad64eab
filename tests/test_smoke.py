def test_factories_build_two_isolated_tenants(tenant_a, tenant_b):
    assert tenant_a.organization != tenant_b.organization
    assert tenant_a.staff.studios.get() == tenant_a.studio
