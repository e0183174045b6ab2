// Translators: metric series -> signs, driven by declarative rules. See agent/README.md "JVM sources".
//
//   const translator = new Translator(loadRules(userFileOrUndefined));
//   for (const signal of translator.observe({ metric, subject, value, atMs, context })) emit(signal);
//
// Stable API: Translator, Observation, loadRules, mergeRules, parseRuleFile, readRuleFile,
// RuleSet, Rule, RuleFileError, DEFAULT_RULES_FILE.
export { Translator, signOf, type Observation } from './engine.js';
export {
  DEFAULT_RULES_FILE,
  RuleFileError,
  RuleSchema,
  loadRules,
  mergeRules,
  parseRuleFile,
  readRuleFile,
  scaleRules,
  type Rule,
  type RuleDefaults,
  type RuleFile,
  type RuleSet,
} from './rules.js';
