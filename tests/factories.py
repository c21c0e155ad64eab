"""factory-boy factories for the tenancy model. `MembershipFactory(manager=True)` makes a manager."""

import factory
from factory.django import DjangoModelFactory

from core.models import User
from studios.models import Membership, Organization, PhoneNumber, ProviderAccount, Studio

TEST_PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OperatorFactory(UserFactory):
    is_staff = True
    is_superuser = True


class OrganizationFactory(DjangoModelFactory):
    class Meta:
        model = Organization

    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.Sequence(lambda n: f"Organization {n}")


class StudioFactory(DjangoModelFactory):
    class Meta:
        model = Studio

    organization = factory.SubFactory(OrganizationFactory)
    slug = factory.Sequence(lambda n: f"studio-{n}")
    name = factory.Sequence(lambda n: f"Studio {n}")
    time_zone = "America/New_York"


class MembershipFactory(DjangoModelFactory):
    """A staff member of one new studio unless `studios=[...]` or `manager=True` says otherwise."""

    class Meta:
        model = Membership
        skip_postgeneration_save = True

    class Params:
        manager = factory.Trait(role=Membership.Role.MANAGER)

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.STAFF

    @factory.post_generation
    def studios(obj, create, extracted, **kwargs):
        if not create or obj.role == Membership.Role.MANAGER:
            return
        studios = extracted if extracted is not None else [StudioFactory(organization=obj.organization)]
        obj.studios.set(studios)


class TwilioAccountFactory(DjangoModelFactory):
    class Meta:
        model = ProviderAccount

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"twilio-{n}")
    kind = "twilio"
    is_default = True
    account_sid = factory.Sequence(lambda n: f"AC{n:032d}")
    auth_token = "twilio-auth-token-value"
    api_base_url = "https://api.twilio.com"


class ZohoCrmAccountFactory(DjangoModelFactory):
    class Meta:
        model = ProviderAccount

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"zoho-{n}")
    kind = "zoho_crm"
    is_default = True
    client_id = "1000.CLIENTID"
    client_secret = "zoho-client-secret-value"
    refresh_token = "1000.refresh-token-value"
    accounts_url = "https://accounts.zoho.eu"
    api_domain = "https://www.zohoapis.eu"


class PhoneNumberFactory(DjangoModelFactory):
    class Meta:
        model = PhoneNumber

    organization = factory.SubFactory(OrganizationFactory)
    # 555-2000 and up: never one of the documented examples (+14155550100), which appear in help texts
    number = factory.Sequence(lambda n: f"+1415555{2000 + n % 8000:04d}")
    provider = "twilio"
    account = factory.LazyAttribute(lambda o: TwilioAccountFactory(organization=o.organization))
    studio = factory.LazyAttribute(lambda o: StudioFactory(organization=o.organization))
