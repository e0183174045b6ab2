// Slack incoming webhook: a readable message (text for notifications, blocks for the channel):
// situation, root cause, recommendation, the causal chain.
import type { Narrative } from '../proto/index.js';
import type { SlackSpec } from './config.js';
import type { Actor } from './actor.js';
import { chainLines, clip, confidenceOf, headline, levelName } from './narrative-text.js';
import type { Transition } from './policy.js';

const ICON: Record<string, string> = { CRITICAL: ':red_circle:', WARNING: ':large_orange_circle:' };

/** Slack's mrkdwn needs these three escaped, nothing else. */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface SlackMessage {
  text: string;
  blocks: unknown[];
}

export function slackMessage(n: Narrative, t: Transition): SlackMessage {
  const icon = t === 'resolve' ? ':white_check_mark:' : (ICON[levelName(n)] ?? ':large_blue_circle:');
  const title = headline(n, t);
  const blocks: unknown[] = [{ type: 'header', text: { type: 'plain_text', text: clip(`${title}`, 150), emoji: true } }];
  if (t !== 'resolve') {
    const fields = [
      n.rootCause ? `*Root cause:* ${esc(n.rootCause)}${n.rootSubject ? ` (\`${esc(n.rootSubject)}\`)` : ''}` : '',
      n.recommendation ? `*Recommendation:* ${esc(n.recommendation)}` : '',
    ].filter(Boolean);
    if (fields.length) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(fields.join('\n'), 3000) } });
    const chain = chainLines(n, 10);
    if (chain.length) {
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clip(`*Causal chain:*\n${chain.map((l, i) => `${i + 1}. ${esc(l)}`).join('\n')}`, 3000) } });
    }
  }
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: esc(`kafka-obs narrative ${n.id} · revision ${n.revision} · confidence ${confidenceOf(n)} · level ${levelName(n)}`) }],
  });
  const text = `${icon} ${esc(title)}${t !== 'resolve' && n.rootCause ? ` (root cause: ${esc(n.rootCause)})` : ''}`;
  return { text: clip(text, 3000), blocks };
}

export function slackActor(spec: SlackSpec): Actor {
  return {
    spec,
    describe: (n, t) => `would post to Slack (${spec.target}): ${headline(n, t)}`,
    act: (n, t) => ({
      url: spec.url,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(slackMessage(n, t)),
    }),
  };
}
