import {
  type ASTVisitor,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLError,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { DEFAULT_PAGE_SIZE } from './pagination';

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
}

/**
 * Marks a limit violation so the error formatter can give it Herald's code: Apollo rewrites the `code` of
 * every validation error to GRAPHQL_VALIDATION_FAILED.
 */
export const HERALD_CODE_EXTENSION = 'heraldCode';

/** Lists without a `page` argument (a delivery's attempts, an event's deliveries) are costed at this size. */
const UNPAGED_LIST_SIZE = 10;
const INTROSPECTION_MAX_DEPTH = 20;

/**
 * Refuses documents nested deeper than `maxDepth` or whose estimated cost (every field counts 1, times the
 * page sizes of the lists it sits in) is over `maxCost`, before anything runs. Fragments are expanded;
 * a fragment cycle is refused by graphql-js's own rules.
 */
export function queryLimitRule(limits: QueryLimits): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    }
    const measure = (selectionSet: SelectionSetNode, depth: number, seen: Set<string>): { depth: number; cost: number } => {
      let deepest = depth;
      let cost = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          const multiplier = listSize(selection);
          cost += 1;
          if (selection.selectionSet) {
            const inner = measure(selection.selectionSet, depth + 1, seen);
            deepest = Math.max(deepest, inner.depth);
            cost += multiplier * inner.cost;
          }
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const inner = measure(selection.selectionSet, depth, seen);
          deepest = Math.max(deepest, inner.depth);
          cost += inner.cost;
        } else {
          const name = selection.name.value;
          const fragment = fragments.get(name);
          if (!fragment || seen.has(name)) continue;
          const inner = measure(fragment.selectionSet, depth, new Set([...seen, name]));
          deepest = Math.max(deepest, inner.depth);
          cost += inner.cost;
        }
        if (cost > limits.maxCost * 10) break;
      }
      return { depth: deepest, cost };
    };
    return {
      OperationDefinition(node) {
        // GraphiQL's introspection query nests type references about 13 levels deep.
        const maxDepth = isIntrospectionOnly(node.selectionSet) ? Math.max(limits.maxDepth, INTROSPECTION_MAX_DEPTH) : limits.maxDepth;
        const { depth, cost } = measure(node.selectionSet, 1, new Set());
        if (depth > maxDepth) {
          context.reportError(
            new GraphQLError(
              `The query is nested ${depth} levels deep; the limit is ${maxDepth} (GRAPHQL_MAX_DEPTH). Ask for fewer nested fields.`,
              { nodes: [node], extensions: { [HERALD_CODE_EXTENSION]: 'QUERY_TOO_COMPLEX', depth, limit: maxDepth } },
            ),
          );
        } else if (cost > limits.maxCost) {
          context.reportError(
            new GraphQLError(
              `The query's estimated cost is ${cost}; the limit is ${limits.maxCost} (GRAPHQL_MAX_COST). Ask for smaller pages or fewer nested lists.`,
              { nodes: [node], extensions: { [HERALD_CODE_EXTENSION]: 'QUERY_TOO_COMPLEX', cost, limit: limits.maxCost } },
            ),
          );
        }
      },
    };
  };
}

/** How many items a field can return: its `page.first` (literal), the default page size, or a fixed guess. */
function listSize(field: FieldNode): number {
  const page = field.arguments?.find((argument) => argument.name.value === 'page');
  if (page) {
    if (page.value.kind === Kind.OBJECT) {
      const first = page.value.fields.find((entry) => entry.name.value === 'first');
      if (first?.value.kind === Kind.INT) return Math.max(1, Number(first.value.value));
    }
    // A variable: assume the largest page it could ask for.
    return 100;
  }
  if (['nodes', 'edges'].includes(field.name.value)) return 1;
  if (['deliveries', 'attempts', 'events', 'endpoints', 'applications', 'deadLetters', 'apiKeys'].includes(field.name.value)) {
    return field.name.value === 'attempts' ? UNPAGED_LIST_SIZE : DEFAULT_PAGE_SIZE;
  }
  return 1;
}

function isIntrospectionOnly(selectionSet: SelectionSetNode): boolean {
  return selectionSet.selections.every((selection) => selection.kind === Kind.FIELD && selection.name.value.startsWith('__'));
}
