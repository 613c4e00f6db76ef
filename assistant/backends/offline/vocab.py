"""What people call things: synonyms for categories, account kinds and product types.

Categories are matched against the *user's own* names first; the concepts here are an extra
layer that maps everyday words ("food shopping", "takeaway", "petrol") to whichever of the
user's categories belongs to the same concept. A concept resolves to the user's category
whose name is one of the concept's terms; if the user has none, the concept's ``family`` is
tried ("takeaway" falls back to "Dining Out" for a user without a takeaway category, and to
"Takeaways" for a user who has one).
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.backends.offline.text import word_set


@dataclass(frozen=True)
class Concept:
    family: str
    terms: tuple[str, ...]
    """Lower-case phrases; the first ones are also likely category names."""


def _c(family: str, terms: str) -> Concept:
    return Concept(family, tuple(t.strip() for t in terms.split(",") if t.strip()))


CONCEPTS: tuple[Concept, ...] = (
    _c("groceries", "groceries, grocery, supermarket, supermarkets, food shopping, food shop, "
       "grocery shopping, grocery store, food store, weekly shop, big shop, provisions"),
    _c("dining", "dining out, eating out, eat out, restaurant, restaurants, dining, meals out, "
       "meal out, dinners out, dinner out, lunches out, restaurant bill, restaurant bills, "
       "food and drink out, brunch, bistro"),
    _c("dining", "takeaway, takeaways, takeout, take away, take out, food delivery, "
       "delivery food, fast food, deliveries"),
    _c("coffee", "coffee, coffees, coffee shop, coffee shops, cafe, cafes, espresso, latte"),
    _c("food", "food, food and drink, food and drinks"),
    _c("utilities", "utilities, utility, bills, utility bills, household bills, energy, "
       "electricity, electric bill, electric, gas bill, gas and electric, water, water bill, "
       "heating, power bill, energy bill, energy bills"),
    _c("rent", "rent, rental, renting, landlord"),
    _c("mortgage", "mortgage, mortgage payment, mortgage payments, home loan"),
    _c("internet", "internet, broadband, wifi, wi fi, fibre, fiber, internet bill"),
    _c("phone", "phone, mobile, mobile phone, phone bill, cell phone, cellphone"),
    _c("council tax", "council tax, property tax, local tax"),
    _c("home insurance", "home insurance, house insurance, contents insurance, "
       "buildings insurance, renters insurance"),
    _c("car insurance", "car insurance, motor insurance, auto insurance, vehicle insurance"),
    _c("housing", "housing, home, home costs, house costs, living costs"),
    _c("public transport", "public transport, public transit, transit, bus, buses, train, "
       "trains, tube, metro, subway, tram, commute, commuting, rail, travel card"),
    _c("fuel", "fuel, petrol, gasoline, diesel, gas station, petrol station, filling up"),
    _c("taxi", "taxi, taxis, cab, cabs, rideshare, ride share, ride hailing, minicab, rides"),
    _c("parking", "parking, car park, parking fees"),
    _c("car", "car, vehicle, car costs, motoring"),
    _c("transport", "transport, transportation, getting around, travel costs"),
    _c("clothing", "clothing, clothes, apparel, fashion, shoes, outfits"),
    _c("electronics", "electronics, gadgets, tech, computer, computers, laptop"),
    _c("household", "household, household items, household things, homeware, home goods, "
       "cleaning supplies, diy, furniture"),
    _c("shopping", "shopping, retail, retail therapy"),
    _c("subscriptions", "subscriptions, subscription, streaming, streaming services, subs, "
       "memberships, membership, recurring subscriptions"),
    _c("entertainment", "entertainment, fun, cinema, movies, concerts, concert, theatre, "
       "theater, events, games, gaming, leisure activities"),
    _c("entertainment", "nights out, night out, going out, bars, pubs, pub, clubbing, drinks, "
       "socialising, socializing"),
    _c("travel", "travel, holidays, holiday, vacation, vacations, trips, trip, flights, "
       "hotels, hotel, getaways"),
    _c("sport", "sport, sports, gym, fitness, gym membership, exercise, sports club"),
    _c("leisure", "leisure, lifestyle, hobbies, hobby"),
    _c("pharmacy", "pharmacy, chemist, chemists, drugstore, medicine, medicines, medication, "
       "prescriptions, prescription"),
    _c("doctor", "doctor, doctors, gp, medical, dentist, dental, physio, hospital"),
    _c("health", "health, healthcare, health care, wellbeing"),
    _c("personal care", "haircuts, haircut, hairdresser, barber, beauty, toiletries, "
       "personal care, cosmetics"),
    _c("kids", "kids, children, child, childcare, nursery, daycare, school, baby"),
    _c("pets", "pets, pet, vet, vets, vet bills, pet food, pet insurance, dog, dogs, dog food, "
       "cat, cats, cat food, puppy, kitten, grooming"),
    _c("gifts", "gifts, gift, presents, donations, charity"),
    _c("education", "education, tuition, courses, course, books, training"),
    _c("bank fees", "bank fees, bank charges, fees, overdraft fees, account fees, atm fees, "
       "service charges"),
    _c("loan interest", "loan interest, interest paid, interest charges, interest on loans, "
       "credit card interest"),
    _c("financial", "financial, finance costs, finance charges"),
    _c("salary", "salary, salaries, wages, wage, my pay, paycheck, paycheque, payslip, "
       "take home pay, payday, pay day, paid yet, pay packet"),
    _c("interest", "interest, interest earned, savings interest, interest income"),
    _c("benefits", "benefits, benefit, child benefit, allowance"),
    _c("other income", "other income, side income, side hustle"),
    _c("income", "income, earnings, revenue"),
    _c("uncategorised", "uncategorised, uncategorized, no category, without a category, "
       "not categorised, not categorized, arent categorised, arent categorized, unsorted, "
       "unclassified, unknown category, uncategorised spending"),
)

PLACE_TERMS = frozenset(
    _c(
        "places",
        "supermarket, supermarkets, restaurant, restaurants, cafe, cafes, coffee shop, "
        "coffee shops, shop, shops, store, stores, pub, pubs, bar, bars, gas station, "
        "petrol station, pharmacy, chemist, chemists",
    ).terms
)
"""Words for places: "which supermarkets did I use most" asks for merchants."""

GENERIC_NAME_WORDS = word_set(
    """
    other out and of the my our a an public bank account accounts card cards main day everyday
    plus premium gold platinum basic cash home company companies store stores shop shops market
    services service group gmbh ltd limited inc bv co plc llc ag sa online
    """
)
"""Words inside names too vague to select a category or account on their own."""

ACCOUNT_KINDS: dict[str, tuple[str, ...]] = {
    "checking": ("checking", "checking account", "current account", "chequing", "debit card",
                 "main account", "everyday account", "bank account", "debit"),
    "savings": ("savings", "savings account", "savings pot", "saver", "rainy day fund", "saved up",
                "emergency fund", "isa"),
    "credit_card": ("credit card", "credit", "card", "cards", "creditcard", "mastercard",
                    "amex", "visa"),
    "loan": ("loan", "loans", "mortgage", "car loan"),
    "investment": ("investment", "investments", "brokerage", "portfolio", "stocks", "shares",
                   "pension", "investment account"),
}
"""Words for each ``AccountKind``; a match selects the user's only account of that kind."""

SPEND_ONLY_KINDS = frozenset({"loan", "investment"})
"""Kinds nobody spends from: "interest on loans" is no filter on a loan account."""

PRODUCT_TYPES: dict[str, tuple[str, ...]] = {
    "fixed_term_deposit": ("fixed term", "term deposit", "fixed deposit", "fixed rate bond",
                           "certificate of deposit", "time deposit"),
    "savings": ("savings", "saver", "savings account", "easy access", "instant access", "isa",
                "notice account", "park", "stash", "put away", "nest egg"),
    "current_account": ("current account", "checking account", "overdraft", "bank account",
                        "debit card", "international transfer", "international transfers",
                        "international payment", "international payments"),
    "credit_card": ("credit card", "credit cards", "cashback", "rewards card"),
    "personal_loan": ("personal loan", "personal loans", "loan", "loans", "borrow"),
    "mortgage": ("mortgage", "mortgages", "remortgage", "home loan"),
    "investment": ("investment", "investments", "invest", "investing", "funds", "etf",
                   "brokerage", "stocks and shares"),
    "retirement": ("pension", "pensions", "retirement", "retire", "401k", "ira"),
    "insurance": ("insurance", "cover", "insured"),
}
"""Words for each product type of ``product_lookup``, most specific first."""

PAYEE_CONCEPTS: tuple[tuple[tuple[str, ...], frozenset[str], frozenset[str]], ...] = (
    (("tax refund", "tax rebate", "tax return", "tax office", "taxman", "tax man",
      "tax authority", "tax back", "tax refunds"),
     frozenset({"irs", "hmrc", "finanzamt", "belastingdienst", "tax", "revenue", "impots",
                "treasury", "cra", "ato", "skatteverket"}), frozenset()),
    (("foreign transaction fee", "foreign transaction fees", "foreign fee", "foreign fees",
      "fx fee", "fx fees", "overseas fee", "overseas fees", "currency conversion fee",
      "non sterling fee", "non euro fee", "exchange fee", "exchange fees", "fees abroad"),
     frozenset({"foreign", "fx", "sterling", "overseas", "currency", "euro", "international",
                "auslandseinsatz"}), frozenset({"fee", "charge", "commission"})),
)
"""Everyday words for payees every bank customer has, whatever the bank calls them: the tax
authority and the bank's foreign-currency fee. (terms, any of these name words, and all of
these name words when not empty)."""
