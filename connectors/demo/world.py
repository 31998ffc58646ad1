"""Reference data for the international flavour's countries (IE, DE, FR, AU) that Faker's locale data
lacks: real towns with their postal districts, and the street and unit words each country writes.

Faker supplies what it has (German towns, French departments, names per locale, Australian
states); the lists here fill the gaps with a few dozen real places each, so a town always sits in
the same postal district or state and only where people live depends on the seed.
"""

from __future__ import annotations

# Irish towns with the Eircode routing key of their area (the first three characters of an Eircode).
IE_TOWNS = (
    ("Dublin", "D01"), ("Dublin", "D02"), ("Dublin", "D04"), ("Dublin", "D06"), ("Dublin", "D08"),
    ("Dublin", "D12"), ("Dublin", "D15"), ("Dublin", "D24"), ("Cork", "T12"), ("Cork", "T23"),
    ("Galway", "H91"), ("Limerick", "V94"), ("Waterford", "X91"), ("Kilkenny", "R95"), ("Sligo", "F91"),
    ("Athlone", "N37"), ("Drogheda", "A92"), ("Dundalk", "A91"), ("Wexford", "Y35"), ("Tralee", "V92"),
    ("Ennis", "V95"), ("Letterkenny", "F92"), ("Navan", "C15"), ("Naas", "W91"), ("Carlow", "R93"),
    ("Tullamore", "R35"), ("Mullingar", "N91"), ("Castlebar", "F23"), ("Killarney", "V93"), ("Clonmel", "E91"),
    ("Portlaoise", "R32"), ("Longford", "N39"), ("Cavan", "H12"), ("Monaghan", "H18"), ("Bray", "A98"),
    ("Swords", "K67"), ("Balbriggan", "K32"), ("Maynooth", "W23"), ("Newbridge", "W12"), ("Wicklow", "A67"),
)  # fmt: skip
# The characters an Eircode's last four are drawn from (no letters that read like digits).
EIRCODE_CHARACTERS = tuple("ACDEFHKNPRTVWXY0123456789")

# Australian towns: name, state code, the first postcode of the town's range (4 digits; NT starts with 0).
AU_TOWNS = (
    ("Sydney", "NSW", 2000), ("Parramatta", "NSW", 2150), ("Newcastle", "NSW", 2300), ("Wollongong", "NSW", 2500),
    ("Penrith", "NSW", 2750), ("Wagga Wagga", "NSW", 2650), ("Dubbo", "NSW", 2830), ("Tamworth", "NSW", 2340),
    ("Orange", "NSW", 2800), ("Bathurst", "NSW", 2795), ("Port Macquarie", "NSW", 2444), ("Coffs Harbour", "NSW", 2450),
    ("Melbourne", "VIC", 3000), ("Geelong", "VIC", 3220), ("Ballarat", "VIC", 3350), ("Bendigo", "VIC", 3550),
    ("Shepparton", "VIC", 3630), ("Mildura", "VIC", 3500), ("Frankston", "VIC", 3199), ("Warrnambool", "VIC", 3280),
    ("Brisbane", "QLD", 4000), ("Gold Coast", "QLD", 4217), ("Toowoomba", "QLD", 4350), ("Cairns", "QLD", 4870),
    ("Townsville", "QLD", 4810), ("Mackay", "QLD", 4740), ("Rockhampton", "QLD", 4700), ("Bundaberg", "QLD", 4670),
    ("Adelaide", "SA", 5000), ("Mount Gambier", "SA", 5290), ("Whyalla", "SA", 5600), ("Murray Bridge", "SA", 5253),
    ("Perth", "WA", 6000), ("Fremantle", "WA", 6160), ("Bunbury", "WA", 6230), ("Geraldton", "WA", 6530),
    ("Kalgoorlie", "WA", 6430), ("Hobart", "TAS", 7000), ("Launceston", "TAS", 7250), ("Devonport", "TAS", 7310),
    ("Darwin", "NT", 800), ("Alice Springs", "NT", 870), ("Canberra", "ACT", 2600), ("Belconnen", "ACT", 2617),
)  # fmt: skip

# Street types each English-speaking country writes (Faker's en_AU list has 200, most of them rare).
IE_STREET_TYPES = ("Road", "Street", "Avenue", "Park", "Lane", "Drive", "Terrace", "Close", "Grove", "Court", "Place")
AU_STREET_TYPES = (
    "Street", "Road", "Avenue", "Drive", "Place", "Court", "Crescent", "Parade", "Close", "Way", "Lane",
    "Terrace", "Circuit", "Grove", "Highway",
)  # fmt: skip
# German streets: a surname joined to a short type ("Bachstraße"), or a full name hyphenated ("Max-Müller-Weg");
# Faker's de_DE lists these types. Common streets every town has, beside them.
DE_COMMON_STREETS = (
    "Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenstraße", "Dorfstraße", "Kirchstraße", "Lindenstraße",
    "Bergstraße", "Waldstraße", "Ringstraße", "Marktplatz", "Am Markt", "Goethestraße", "Schillerstraße",
)  # fmt: skip
FR_COMMON_STREETS = (
    "rue de la Paix", "rue Victor Hugo", "avenue de la République", "place de l'Église", "rue du Moulin",
    "rue de la Gare", "boulevard Gambetta", "avenue Jean Jaurès", "rue Pasteur", "chemin des Vignes",
)  # fmt: skip
# French towns from surnames as Faker's fr_FR builds them, with these suffixes.
FR_TOWN_SUFFIXES = ("", "", "", "-sur-Mer", "-les-Bains", "-la-Forêt", "-le-Château", "-sur-Loire")

# How each country writes a flat or unit in address line 2.
UNIT_WORDS = {"IE": ("Apartment", "Flat"), "AU": ("Unit",), "DE": ("Wohnung",), "FR": ("Appartement", "Bât.")}
