import { createClient, el, errorText, flash, log, show } from '/shared/page.js';

const client = createClient();
const list = document.getElementById('books');
const count = document.getElementById('count');
const listError = document.getElementById('list-error');
const form = document.getElementById('add-form');
const newTitle = document.getElementById('new-title');
const newAuthor = document.getElementById('new-author');
const addError = document.getElementById('add-error');

let books = null; // the library.books collection

// bookRow makes the row of one book model: its title and author, editable
// in place, and a delete button. The row follows the model's change events.
function bookRow(book) {
  const error = el('p', { class: 'notice error', 'data-testid': 'book-error' });
  const field = (prop, label) => {
    const input = el('input', { class: prop, value: book[prop], 'aria-label': label, 'data-testid': prop });
    input.addEventListener('keydown', e => { if (e.key === 'Enter') input.blur(); });
    input.addEventListener('change', () => {
      book.set({ [prop]: input.value })
        .then(() => show(error, 'error', ''))
        .catch(err => {
          show(error, 'error', errorText(err));
          input.value = book[prop];
        });
    });
    return input;
  };
  const title = field('title', 'Title');
  const author = field('author', 'Author');
  const del = el('button', {
    class: 'danger', type: 'button', 'data-testid': 'delete',
    onclick: () => {
      del.disabled = true;
      client.call('library.books', 'delete', { id: book.id }).catch(err => {
        del.disabled = false;
        show(error, 'error', errorText(err));
      });
    },
  }, 'Delete');
  const row = el('li', { class: 'book', 'data-testid': 'book' },
    el('span', { class: 'num' }, `#${book.id}`), title, author, del, error);

  const onChange = changed => {
    for (const [prop, input] of [['title', title], ['author', author]]) {
      if (prop in changed && input.value !== book[prop]) input.value = book[prop];
    }
    log(`change event on ${book.getResourceId()}: ${Object.keys(changed).map(k => `${k} = ${JSON.stringify(book[k])}`).join(', ')}`);
    flash(row);
  };
  book.on('change', onChange);
  row.detach = () => book.off('change', onChange);
  return row;
}

function updateCount() {
  const n = books.length;
  count.textContent = `${n} book${n === 1 ? '' : 's'}`;
  if (n === 0) list.replaceChildren(el('li', { class: 'hint' }, 'No books. Add one below.'));
}

client.get('library.books').then(collection => {
  books = collection;
  list.replaceChildren(...books.toArray().map(bookRow));
  updateCount();
  log(`Got library.books with ${books.length} books`);

  books.on('add', ({ item, idx }) => {
    list.querySelector('li.hint')?.remove();
    const row = bookRow(item);
    list.insertBefore(row, list.children[idx] || null);
    flash(row);
    updateCount();
    log(`add event: ${JSON.stringify(item.title)} by ${item.author} at position ${idx + 1}`);
  });
  books.on('remove', ({ item, idx }) => {
    const row = list.children[idx];
    row?.detach?.();
    row?.remove();
    updateCount();
    log(`remove event: ${JSON.stringify(item.title)} (position ${idx + 1})`);
  });
}).catch(err => {
  list.replaceChildren();
  show(listError, 'error', errorText(err));
  log(`Get failed: ${errorText(err)}`);
});

form.addEventListener('submit', e => {
  e.preventDefault();
  client.call('library.books', 'new', { title: newTitle.value, author: newAuthor.value })
    .then(book => {
      show(addError, 'error', '');
      newTitle.value = '';
      newAuthor.value = '';
      newTitle.focus();
      log(`new answered with ${book.getResourceId()}`);
    })
    .catch(err => show(addError, 'error', errorText(err)));
});
