// Sample profile and context for the preview: from the campaign's contextSchema when it has one,
// else from the variables its templates use (`context.orderId`, `profile.person.name.firstName`).

function fromSchema(schema, name = "value", depth = 0) {
  if (!schema || typeof schema !== "object" || depth > 6) return "example";
  if ("const" in schema) return schema.const;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  if ("default" in schema) return schema.default;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  switch (type) {
    case "object":
    case undefined: {
      if (!schema.properties && type === undefined) return `example ${name}`;
      const value = {};
      for (const [key, sub] of Object.entries(schema.properties || {})) value[key] = fromSchema(sub, key, depth + 1);
      return value;
    }
    case "array": return [fromSchema(schema.items, name, depth + 1)];
    case "integer": return Math.max(1, schema.minimum ?? 1);
    case "number": return Math.max(1, schema.minimum ?? 1) + 0.5;
    case "boolean": return true;
    default:
      if (schema.format === "email") return "ada@example.com";
      if (schema.format === "date-time") return new Date().toISOString();
      if (schema.format === "uri") return "https://example.com/";
      return `${name}-123`;
  }
}

function templateText(campaign) {
  const parts = [];
  for (const locale of Object.values(campaign.content?.locales || {})) {
    for (const value of Object.values(locale || {})) parts.push(typeof value === "string" ? value : JSON.stringify(value));
  }
  return parts.join("\n");
}

function setPath(target, path, value) {
  let node = target;
  path.forEach((key, index) => {
    if (index === path.length - 1) { if (!(key in node)) node[key] = value; return; }
    if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
    node = node[key];
  });
}

const SAMPLE_NAMES = { firstName: "Ada", lastName: "Lovelace", name: "Ada", email: "ada@example.com" };

export function variables(campaign, root) {
  const found = new Set();
  const pattern = new RegExp(`\\b${root}\\.([A-Za-z_][\\w]*(?:\\.[A-Za-z_][\\w]*)*)`, "g");
  for (const match of templateText(campaign).matchAll(pattern)) found.add(match[1]);
  return [...found];
}

export function sampleContext(campaign) {
  if (campaign.contextSchema) return fromSchema(campaign.contextSchema, "context");
  const context = {};
  for (const path of variables(campaign, "context")) { const keys = path.split("."); setPath(context, keys, `${keys.at(-1)}-123`); }
  return context;
}

export function sampleProfile(campaign) {
  const profile = {};
  for (const path of variables(campaign, "profile")) { const keys = path.split("."); setPath(profile, keys, SAMPLE_NAMES[keys.at(-1)] || `${keys.at(-1)} sample`); }
  return profile;
}
