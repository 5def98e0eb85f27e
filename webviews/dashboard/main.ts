// Entry of dist/webviews/dashboard.js (and dashboard.css): the same bundle runs in a VS Code webview
// and on the daemon's browser page.

import 'uplot/dist/uPlot.min.css';
import '../shared/theme.css';
import './dashboard.css';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-multi-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import { bootView } from '../shared/boot.ts';
import { h } from '../shared/dom.ts';
import { DashboardApp } from './app.ts';

const app = h('div', { id: 'app', class: 'dashboard' });
document.body.append(app);
const boot = bootView(app, 'anneal-dashboard');
new DashboardApp(app, boot);
boot.session.start();
