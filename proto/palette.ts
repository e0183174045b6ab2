// How conditions and situation levels look on a terminal: one palette for `kafka-obs tail` and
// the demo, so a DEGRADED cell is the same red in both.
import { Status_Condition } from './gen/kafkaobs/v1/signal.js';
import { Situation_Level } from './gen/kafkaobs/v1/verdict.js';

type Color = 'green' | 'cyan' | 'yellow' | 'red' | 'magenta' | 'bold' | 'inverse';
/** A style as node:util's styleText takes it: one format or several. */
export type TerminalStyle = Color | Color[];

export const CONDITION_STYLE: Partial<Record<Status_Condition, TerminalStyle>> = {
  [Status_Condition.STABLE]: 'green',
  [Status_Condition.CONVERGING]: 'cyan',
  [Status_Condition.DIVERGING]: 'yellow',
  [Status_Condition.ERRATIC]: 'yellow',
  [Status_Condition.DEGRADED]: 'red',
  [Status_Condition.DEFECTIVE]: ['red', 'bold'],
  [Status_Condition.DOWN]: ['red', 'bold', 'inverse'],
};

export const LEVEL_STYLE: Partial<Record<Situation_Level, TerminalStyle>> = {
  [Situation_Level.NORMAL]: 'green',
  [Situation_Level.WARNING]: ['yellow', 'bold'],
  [Situation_Level.CRITICAL]: ['red', 'bold'],
};
