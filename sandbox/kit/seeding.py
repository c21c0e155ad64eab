"""Realistic, repeatable people for seeding any CRM: names from many backgrounds, phones in the many US formats
people type, emails, companies, cities, and created/modified times spread as real data spreads.

Everything is drawn from one `random.Random`, so a seed gives the same data; `Faker.for_seed(seed, "Leads")`
keeps each object type's stream independent (adding contacts does not change the leads). Vendors shape the
values into their own records (field names, datetime text, owners).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

FIRST_NAMES = (
    "Olivia Liam Emma Noah Ava Elijah Sophia James Isabella William Mia Benjamin Charlotte Lucas Amelia Henry "
    "Harper Theodore Evelyn Jack Abigail Levi Emily Alexander Ella Jackson Elizabeth Mateo Camila Daniel Luna "
    "Michael Sofia Mason Avery Sebastian Mila Ethan Aria Logan Scarlett Owen Penelope Samuel Layla Jacob Chloe "
    "Asher Victoria Aiden Madison John Eleanor Joseph Grace Wyatt Nora David Riley Leo Zoey Luke Hannah Julian "
    "Priya Wei Aaliyah Diego Fatima Hiroshi Lucia Mohammed Anika Tomasz Zainab Kofi Ines Rafael Mei"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall "
    "Rivera Campbell Mitchell Carter Roberts Patel Kim Chen Okafor Kowalski O'Brien Silva Haddad Nakamura Singh"
).split()
COMPANY_WORDS = "Summit Harbor Peak Oak River Granite Bright Blue Iron Cedar Maple Pioneer Atlas Nova Crescent".split()
COMPANY_KINDS = "Partners Labs Group Studios Logistics Dental Legal Health Realty Foods Design Systems".split()
CITIES = (
    ("San Francisco", "CA"),
    ("Oakland", "CA"),
    ("New York", "NY"),
    ("Brooklyn", "NY"),
    ("Boston", "MA"),
    ("Austin", "TX"),
    ("Chicago", "IL"),
    ("Seattle", "WA"),
)
AREA_CODES = ("415", "510", "650", "212", "718", "617", "512", "312", "206", "917")
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "example.com", "hotmail.com")
# As people type them into a CRM: a sync must normalise every one of these to E.164.
PHONE_FORMATS = (
    "+1 {a}-{e}-{l}",
    "({a}) {e} {l}",
    "({a}) {e}-{l}",
    "{a}-{e}-{l}",
    "{a}.{e}.{l}",
    "{a}{e}{l}",
    "+1{a}{e}{l}",
    "+1 ({a}) {e}-{l}",
    "1-{a}-{e}-{l}",
)
DAY = 86_400.0


class Faker:
    """Values drawn from `rng`; the order of calls is part of what a seed reproduces."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    @classmethod
    def for_seed(cls, seed: int, stream: str) -> Faker:
        return cls(random.Random(f"{seed}:{stream}"))

    def phone(self) -> str:
        rng = self.rng
        fmt = rng.choice(PHONE_FORMATS)
        return fmt.format(a=rng.choice(AREA_CODES), e=f"{rng.randint(200, 999)}", l=f"{rng.randint(0, 9999):04d}")

    def person(self) -> tuple[str, str]:
        return self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)

    def email(self, first: str, last: str, number: int) -> str:
        """Unique by `number` (a person's email is theirs alone); lower case, no apostrophes."""
        return f"{first}.{last}{number}@{self.rng.choice(DOMAINS)}".lower().replace("'", "")

    def company(self) -> str:
        return f"{self.rng.choice(COMPANY_WORDS)} {self.rng.choice(COMPANY_KINDS)}"

    def city(self) -> tuple[str, str]:
        return self.rng.choice(CITIES)

    def times(self, count: int, *, now: datetime, days: float = 120.0) -> list[tuple[datetime, datetime]]:
        """(created, modified) pairs, created ascending over the past `days`; about half were modified since,
        within the past three weeks."""
        rng = self.rng
        ages = sorted((rng.random() * days * DAY for _ in range(count)), reverse=True)
        result = []
        for age in ages:
            created = now - timedelta(seconds=age)
            modified = created
            if rng.random() < 0.5:
                modified = now - timedelta(seconds=rng.random() * min(age, 21 * DAY))
            result.append((created, modified))
        return result
