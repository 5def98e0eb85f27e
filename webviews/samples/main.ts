// Entry of dist/webviews/samples.js (and samples.css): in a VS Code webview or on the daemon's page.

import '../shared/theme.css';
import './samples.css';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import { bootView } from '../shared/boot.ts';
import { h } from '../shared/dom.ts';
import { SamplesApp } from './app.ts';

const app = h('div', { id: 'app', class: 'samples-view' });
document.body.append(app);
const boot = bootView(app, 'anneal-dashboard');
new SamplesApp(app, boot);
boot.session.start();
