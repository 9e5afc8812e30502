import { render } from 'preact';
import { App } from './app.js';
import { resolveLanguage } from './texts.js';

/** The merchant console's entry: English or Korean from the browser, switchable in the page. */
render(<App initialLanguage={resolveLanguage(...navigator.languages, navigator.language)} />, document.getElementById('console')!);
