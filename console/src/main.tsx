// Entry point of the web console: mount the app, then find out whether a session is alive.
import { render } from 'preact';
import { App } from './app.tsx';
import { restoreSession } from './session.ts';

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
void restoreSession();
