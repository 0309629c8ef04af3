// Reads {name: card JSON} on stdin; prints {name: [problem, …]} for each card that Microsoft's
// Adaptive Cards library (the renderer Teams is built on) finds wrong when parsing and validating it.
const AC = require("adaptivecards/dist/adaptivecards.min.js");

const cards = JSON.parse(require("fs").readFileSync(0, "utf8"));
const problems = {};
for (const [name, json] of Object.entries(cards)) {
  const context = new AC.SerializationContext();
  const card = new AC.AdaptiveCard();
  card.parse(json, context);
  const events = [];
  for (let i = 0; i < context.eventCount; i++) events.push(context.getEventAt(i));
  events.push(...card.validateProperties().validationEvents);
  if (events.length) problems[name] = events.map((event) => event.message);
}
process.stdout.write(JSON.stringify(problems));
