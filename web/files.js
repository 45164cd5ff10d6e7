// The library pane's Files list: the files the page's tasks can read and
// write (LoadDocument, WriteFile, SQLite files). They live in the origin
// private file system, which the engine mounts as its file root
// (taskloom.browser.files); picked or dropped files are copied in, so they
// stay across reloads. A task names a file by the path shown here.
import { page } from "./page.js";

const list = document.getElementById("files");
const pick = document.getElementById("files-pick");
const drop = document.getElementById("files-drop");
const status = document.getElementById("files-status");

function say(text) { status.textContent = text; }

function sizeOf(bytes) {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KB`;
}

function show(files) {
  window.taskloom.files = files;
  list.replaceChildren(...files.map((file) => {
    const item = document.createElement("li");
    item.dataset.file = file.path;
    const name = document.createElement("span");
    name.textContent = `${file.path} (${sizeOf(file.size)})`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete ${file.path}`);
    remove.addEventListener("click", () => change(
      (engine) => engine.deleteFile(file.path), `Deleted ${file.path}.`));
    item.append(name, " ", remove);
    return item;
  }));
  if (!files.length) {
    const empty = document.createElement("li");
    empty.textContent = "No files yet.";
    list.append(empty);
  }
}

async function change(work, done) {
  try {
    const reply = await work(await page.ready);
    show(reply.files);
    say(done);
  } catch (error) {
    say(`Error: ${error.message}`);
  }
}

function base64Of(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

async function add(files) {
  for (const file of files) {
    say(`Adding ${file.name}…`);
    let data;
    try {
      data = base64Of(await file.arrayBuffer());
    } catch (error) {
      say(`Error: could not read ${file.name}: ${error.message}`);
      continue;
    }
    await change((engine) => engine.putFile(file.name, data), `Added ${file.name}.`);
  }
}

pick.addEventListener("change", async () => {
  await add([...pick.files]);
  pick.value = "";
});
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.dataset.dragging = "true";
});
drop.addEventListener("dragleave", () => { delete drop.dataset.dragging; });
// The page's own drop handler (library.js, graph import) leaves drops here to this list.
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  delete drop.dataset.dragging;
  add([...event.dataTransfer.files]);
});

/**
 * An example's file (web/examples.js): fetched from the site's own copy of the repository's
 * examples/ and kept under the same path, as a dropped file would be, so the example's
 * relative path reads it here as `taskloom run` does from the repository root. A file of
 * that name already in the list is the user's: it is kept, not replaced.
 */
export async function addExampleFile(path) {
  const engine = await page.ready;
  if ((await engine.listFiles()).files.some((file) => file.path === path)) {
    say(`Kept ${path}: the example reads the copy in your files.`);
    return;
  }
  const response = await fetch(path);
  if (!response.ok) throw new Error(`cannot fetch ${path}: HTTP ${response.status}`);
  const reply = await engine.putFile(path, base64Of(await response.arrayBuffer()));
  show(reply.files);
  say(`Added ${path}, the example's document.`);
}

/** Shows the list again (after a run that may have written files). */
export async function refreshFiles() {
  try {
    show((await (await page.ready).listFiles()).files);
  } catch (error) {
    say(`Error: ${error.message}`);
  }
}

page.ready.then(refreshFiles);
page.on("run-end", refreshFiles);
