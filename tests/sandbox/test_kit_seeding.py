"""The kit's seeding: a seed gives the same people; streams are independent; phones come in typed formats."""

import re
from datetime import UTC, datetime, timedelta

from sandbox.kit.seeding import Faker

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def sample(faker: Faker) -> list:
    first, last = faker.person()
    return [first, last, faker.email(first, last, 7), faker.phone(), faker.company(), faker.city()]


def test_a_seed_gives_the_same_people_and_another_seed_others():
    assert sample(Faker.for_seed(1, "Leads")) == sample(Faker.for_seed(1, "Leads"))
    assert sample(Faker.for_seed(1, "Leads")) != sample(Faker.for_seed(2, "Leads"))
    assert sample(Faker.for_seed(1, "Leads")) != sample(Faker.for_seed(1, "Contacts"))


def test_phones_are_us_numbers_in_the_formats_people_type():
    faker = Faker.for_seed(3, "phones")
    phones = [faker.phone() for _ in range(200)]
    assert all(len(re.sub(r"\D", "", phone).removeprefix("1")) == 10 for phone in phones)
    assert len({re.sub(r"\d", "9", phone) for phone in phones}) >= 6  # many shapes, not one


def test_emails_are_lower_case_without_apostrophes_and_unique_by_number():
    faker = Faker.for_seed(4, "emails")
    assert faker.email("Kofi", "O'Brien", 12).startswith("kofi.obrien12@")


def test_times_spread_created_ascending_with_about_half_modified_since():
    pairs = Faker.for_seed(5, "times").times(400, now=NOW, days=120)
    created = [created for created, _ in pairs]
    assert created == sorted(created)
    assert all(NOW - timedelta(days=120) <= c <= m <= NOW for c, m in pairs)
    edited = sum(1 for c, m in pairs if m != c)
    assert 150 < edited < 250
    assert all(NOW - m <= timedelta(days=21) for c, m in pairs if m != c)
